# Empty compiler generated dependencies file for dnncore.
# This may be replaced when dependencies are built.
