#include "vecattn.h"

#define VECATTN_STR_(x) #x
#define VECATTN_STR(x) VECATTN_STR_(x)

const char *vecattn_version(void) {
  return VECATTN_STR(VECATTN_VERSION_MAJOR) "." VECATTN_STR(VECATTN_VERSION_MINOR) "." VECATTN_STR(
      VECATTN_VERSION_PATCH);
}
