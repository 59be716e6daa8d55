/* Recurrent layers over a whole sequence as one recorded op: SimpleRNN, LSTM
 * and GRU with Keras's weight layouts. The input projection of every time
 * step is one GEMM; each step is one recurrent GEMM (two for GRU with
 * reset_after = false) and a fused gate kernel; backward through time runs in
 * C and ends with one GEMM each for the input, kernel and recurrent kernel
 * gradients.
 *
 * Keras's layouts: kernel (F, k*U), recurrent kernel (U, k*U), bias (k*U),
 * k = 1 (SimpleRNN), 4 (LSTM, gates i, f, c, o), 3 (GRU, gates z, r, h). A
 * GRU with reset_after has bias (2, 3*U): the input bias, then the
 * recurrent one. */
#ifndef DNN_RNN_H
#define DNN_RNN_H

#include <stdbool.h>

#include "dnn/nn.h"
#include "dnn/tensor.h"

typedef enum { DNN_RNN_SIMPLE, DNN_RNN_LSTM, DNN_RNN_GRU } dnn_rnn_cell;

typedef struct {
  dnn_rnn_cell cell;
  /* SimpleRNN's output, LSTM's candidate and cell output, GRU's candidate (Keras: tanh); linear, relu, sigmoid or
   * tanh */
  dnn_activation activation;
  dnn_activation recurrent_activation; /* the gates of LSTM and GRU (Keras: sigmoid) */
  bool reset_after; /* GRU: the reset gate multiplies the recurrent product (Keras's default, PyTorch's GRU) */
  bool go_backwards; /* read the sequence from its last step; the output sequence comes in that order */
  bool return_sequences; /* output 0 is every step's output (N, T, U), else the last step's (N, U) */
} dnn_rnn_config;

/* Only x and the kernels are required. Gradients flow to x, the kernels, the bias and the initial states. */
typedef struct {
  dnn_tensor *x; /* (N, T, F) */
  dnn_tensor *kernel; /* (F, k*U) */
  dnn_tensor *recurrent_kernel; /* (U, k*U) */
  dnn_tensor *bias; /* (k*U), or (2, 3*U) for a GRU with reset_after; NULL: none */
  dnn_tensor *h0, *c0; /* initial states (N, U); NULL: zeros. c0 for LSTM only */
  /* (N, T): a step whose entry is 0 keeps the state, and its output repeats the previous step's (zeros before the
   * first unmasked step), as Keras. NULL: every step counts. Read in input order (not reversed by go_backwards). */
  dnn_tensor *mask;
  /* (N, U): recurrent dropout, the factor (0 or 1 / (1 - rate)) applied to the state entering the recurrent product
   * at every step of a sample; the state carried on (GRU's z * h) is not dropped. NULL: none. */
  dnn_tensor *recurrent_dropout;
} dnn_rnn_inputs;

/* Runs the layer. outputs[0]: the output sequence (N, T, U) or the last output (N, U); outputs[1]: the final state h
 * (N, U); outputs[2]: LSTM's final cell state c (N, U). All new references, recorded as one node when gradients are
 * needed. Returns DNN_OK, or an error (argument errors name the argument: x 1, kernel 2, recurrent kernel 3, bias 4,
 * h0 5, c0 6, mask 7, recurrent dropout 8, the config 9) with the outputs NULL. */
dnn_status dnn_rnn(const dnn_rnn_config *cfg, const dnn_rnn_inputs *in, dnn_tensor **outputs);

/* The number of gates k of a cell: 1, 4 or 3. */
int dnn_rnn_gates(dnn_rnn_cell cell);

#endif
