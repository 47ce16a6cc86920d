"""What the delivery pipeline (CodePipeline) runs in its CodeBuild steps, with nothing but boto3 installed."""
