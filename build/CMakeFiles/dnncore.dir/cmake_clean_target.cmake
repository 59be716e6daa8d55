file(REMOVE_RECURSE
  "libdnncore.a"
)
