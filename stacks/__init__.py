"""CDK constructs, stacks and stages of the text-classification MLOps app."""
