/* The dnn core: include this to get every module. */
#ifndef DNN_H
#define DNN_H

#include "dnn/attention.h"
#include "dnn/autograd.h"
#include "dnn/boxes.h"
#include "dnn/conv.h"
#include "dnn/ctc.h"
#include "dnn/distributed.h"
#include "dnn/error.h"
#include "dnn/font.h"
#include "dnn/init.h"
#include "dnn/image.h"
#include "dnn/io.h"
#include "dnn/losses.h"
#include "dnn/nn.h"
#include "dnn/onnx.h"
#include "dnn/ops.h"
#include "dnn/optim.h"
#include "dnn/parallel.h"
#include "dnn/pool.h"
#include "dnn/random.h"
#include "dnn/rnn.h"
#include "dnn/tensor.h"

#endif
