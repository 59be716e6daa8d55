/* Bindings for layers, losses, optimizers and initializers (core nn.h, optim.h, init.h). */
#include "ldnn.h"

void ldnn_open_nn(lua_State *L) { (void)L; }
