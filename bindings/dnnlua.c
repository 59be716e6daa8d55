#include "ldnn.h"
int main(void) { return 0; }
