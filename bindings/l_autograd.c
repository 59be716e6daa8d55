/* Bindings for autodiff: backward, no_grad, grad mode. */
#include "ldnn.h"

void ldnn_open_autograd(lua_State *L) { (void)L; }
