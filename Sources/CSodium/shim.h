// libsodium's public header. No wrappers are needed: every function the project calls is a plain
// C function, so Swift imports it as is.
#ifndef CSODIUM_SHIM_H
#define CSODIUM_SHIM_H
#include <sodium.h>
#endif
