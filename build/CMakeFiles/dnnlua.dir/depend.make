# Empty dependencies file for dnnlua.
# This may be replaced when dependencies are built.
