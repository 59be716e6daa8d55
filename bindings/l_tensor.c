/* Bindings for tensors: creation, the metatable, methods and operators. */
#include "ldnn.h"

void ldnn_open_tensor(lua_State *L) { (void)L; }
