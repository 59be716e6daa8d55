file(REMOVE_RECURSE
  "libdnnbind.a"
)
