"""The delivery pipeline: CodePipeline that releases the approved model to staging and prod (docs/delivery.md)."""
