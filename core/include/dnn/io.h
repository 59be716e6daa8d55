/* File formats: IDX (the MNIST family), gzip'd or plain. */
#ifndef DNN_IO_H
#define DNN_IO_H

#include "dnn/tensor.h"

/* Reads an IDX file (gzip'd or plain) into a float tensor of its dims, the
 * values as stored (0..255 for ubyte). Magic, dims and sizes are checked
 * against the file; errors name the path. */
dnn_tensor *dnn_read_idx(const char *path);

#endif
