/* A minimal test harness for the C unit tests: CHECK records a failure with
 * file:line and goes on; main returns check_report(). */
#ifndef CHECK_H
#define CHECK_H

#include <math.h>
#include <stdio.h>

static int check_failures, check_count;

#define CHECK(cond)                                                            \
  do {                                                                         \
    check_count++;                                                             \
    if (!(cond)) {                                                             \
      check_failures++;                                                        \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                          \
  } while (0)

#define CHECK_NEAR(a, b, tol)                                                                                   \
  do {                                                                                                          \
    double check_a_ = (a), check_b_ = (b);                                                                      \
    check_count++;                                                                                              \
    if (!(fabs(check_a_ - check_b_) <= (tol))) {                                                                \
      check_failures++;                                                                                         \
      fprintf(stderr, "%s:%d: %s = %.9g, expected %.9g (tol %g)\n", __FILE__, __LINE__, #a, check_a_, check_b_, \
              (double)(tol));                                                                                   \
    }                                                                                                           \
  } while (0)

static inline int check_report(const char *name) {
  printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
  return check_failures ? 1 : 0;
}

#endif
