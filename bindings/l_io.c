/* Bindings for file formats (core io.h). */
#include "ldnn.h"

void ldnn_open_io(lua_State *L) { (void)L; }
