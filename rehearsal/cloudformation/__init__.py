"""CloudFormation, rehearsed: an engine that walks a template (ordering, intrinsics, update, delete), and per
service a module whose RESOURCE_TYPES say how each resource type is created, kept on update and deleted."""
