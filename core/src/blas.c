/* OpenBLAS, opened on the first product instead of linked. Debian's build
 * carries a kernel table for every CPU it knows, and binding its 14,000
 * symbol references took half of each start of dnnlua (2.7 of 5.6 ms),
 * which the runner pays twice (it runs itself again to set libgomp's wait
 * policy); a script that never multiplies matrices never pays it. A missing
 * library is reported when the first product needs it, as the dynamic
 * loader would have reported it at start. DNN_OPENBLAS names another file
 * (a build for another CPU, a debug build). */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>

#include "blas.h"

#ifndef DNN_OPENBLAS_SONAME
#define DNN_OPENBLAS_SONAME "libopenblas.so.0"
#endif

typedef void (*sgemm_fn)(enum CBLAS_ORDER, enum CBLAS_TRANSPOSE, enum CBLAS_TRANSPOSE, blasint, blasint, blasint, float,
                         const float *, blasint, const float *, blasint, float, float *, blasint);
typedef char *(*config_fn)(void);

static sgemm_fn sgemm;
static config_fn config;
static once_flag opened = ONCE_FLAG_INIT;

/* dlsym's object pointer as a function pointer, the way POSIX allows. */
static void *symbol(void *lib, const char *name, void *fn, size_t size) {
  void *p = dlsym(lib, name);
  if (p) memcpy(fn, &p, size);
  return p;
}

static void open_blas(void) {
  const char *name = getenv("DNN_OPENBLAS");
  if (!name || !*name) name = DNN_OPENBLAS_SONAME;
  void *lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
  if (lib && symbol(lib, "cblas_sgemm", &sgemm, sizeof sgemm)) {
    symbol(lib, "openblas_get_config", &config, sizeof config);
    return;
  }
  const char *why = dlerror();
  fprintf(stderr, "dnn: cannot load OpenBLAS (%s), which every matrix product needs: %s\n", name,
          why ? why : "no cblas_sgemm in it");
  exit(127); /* the dynamic loader's status for a missing library */
}

void dnn_blas_open(void) { call_once(&opened, open_blas); }

void dnn_blas_sgemm(bool ta, bool tb, int m, int n, int k, float alpha, const float *a, int lda, const float *b,
                    int ldb, float beta, float *c, int ldc) {
  dnn_blas_open();
  sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb,
        beta, c, ldc);
}

const char *dnn_blas_config(void) {
  dnn_blas_open();
  return config ? config() : "OpenBLAS";
}
