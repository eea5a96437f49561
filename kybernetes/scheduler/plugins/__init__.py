"""In-tree scheduler plugins, one module per plugin, each exposing `new(args, handle)`."""
