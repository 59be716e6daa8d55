/* Weight initializers, in place, drawing from the dnn PRNG. fan_in and
 * fan_out are Keras's: for a (in, out) kernel, in and out. */
#ifndef DNN_INIT_H
#define DNN_INIT_H

#include "dnn/tensor.h"

dnn_status dnn_init_uniform(dnn_tensor *t, float lo, float hi);
dnn_status dnn_init_normal(dnn_tensor *t, float mean, float stddev);
dnn_status dnn_init_glorot_uniform(dnn_tensor *t, int64_t fan_in, int64_t fan_out); /* U(+-sqrt(6/(in+out))) */
dnn_status dnn_init_he_normal(dnn_tensor *t, int64_t fan_in); /* truncated N(0, sqrt(2/in)), as Keras */

#endif
