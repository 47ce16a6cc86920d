"""SageMaker, rehearsed: pipelines run step by step, each job as SageMaker runs it, with the requests checked as
SageMaker checks them (rules) and authorized as IAM would (api)."""
