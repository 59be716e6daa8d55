-- Forecasting the yearly sunspot numbers (1700-2008, 309 years: the file
-- statsmodels/datasets/sunspots/sunspots.csv of Debian's python3-statsmodels,
-- public domain, from NOAA's NGDC) one year ahead with an LSTM, from the
-- previous 20 years. Prints the test MAE beside two baselines: the naive
-- forecast (next year = this year) and the seasonal naive one (next year = the
-- year one solar cycle, 11 years, earlier). Saves the forecasts against the
-- truth and the training curves as PNG files.
--
-- Split by year (the targets): training 1720-1899, validation 1900-1949 (for
-- the curves and for keeping the best epoch's weights), test 1950-2008.
-- Windows come from dnn.data.timeseries (Keras's
-- timeseries_dataset_from_array); the series is standardized with the
-- training years' mean and standard deviation.
--
-- The file: scripts/fetch_sunspots.sh puts it in ~/.cache/dnnlua (taken from
-- the installed python3-statsmodels, or extracted from the downloaded package
-- without installing it); scripts/setup.sh --test runs it.
--
-- Usage: dnnlua examples/timeseries.lua [--epochs N] [--units N] [--seed N]
--   [--data FILE] [--out DIR]
local dnn = require "dnn"
local nn = dnn.nn

local args = dofile((arg[0]:match("^(.*)/") or ".") .. "/lib/args.lua")

local function default_data()
  local dir = os.getenv("DNN_DATA_DIR") or ((os.getenv("XDG_CACHE_HOME") or (os.getenv("HOME") or ".") .. "/.cache")
    .. "/dnnlua")
  return dir .. "/sunspots.csv"
end

local function parse_args(argv)
  local parser = args.parser("timeseries.lua",
    "Forecasts the yearly sunspot numbers one year ahead with an LSTM, beside two naive baselines.")
  args.number_option(parser, "--epochs", "training epochs (the best validation epoch's weights are kept)", 100,
    args.positive_integer)
  args.number_option(parser, "--units", "LSTM units", 32, args.positive_integer)
  args.number_option(parser, "--seed", "random seed", 42, args.nonnegative_integer)
  parser:option("--data", "the sunspots CSV (scripts/fetch_sunspots.sh puts it at the default)", default_data())
    :argname("FILE")
  args.out_dir_option(parser, "where the PNG files go")
  return parser:parse(argv)
end

local opts = parse_args(arg or {})
dnn.manual_seed(opts.seed)

local probe = io.open(opts.data)
if not probe then
  io.stderr:write(string.format("timeseries: no %s: run scripts/fetch_sunspots.sh (or pass --data FILE)\n", opts.data))
  os.exit(1)
end
probe:close()
local table_, columns = dnn.data.read_csv(opts.data, {missing = "error"})
assert(columns[1] == "YEAR" and columns[2] == "SUNACTIVITY", "timeseries: expected the columns YEAR, SUNACTIVITY")
local years, spots = table_:select(2, 1):totable(), table_:select(2, 2):totable()
for i, y in ipairs(years) do years[i] = math.tointeger(y) end
local first_year = years[1]
local function row(year) return year - first_year + 1 end

-- ---- windows ----

local L = 20 -- years in a window
local last_train, last_val, n = row(1899), row(1949), #spots
local mean, var = 0, 0
for r = 1, last_train do mean = mean + spots[r] / last_train end
for r = 1, last_train do var = var + (spots[r] - mean) ^ 2 / last_train end
local std = math.sqrt(var)
local series = (dnn.tensor(spots):reshape(n, 1) - mean) / std

-- The windows whose targets (the year after the window) are the rows first..last: a window starting at row i ends
-- at row i + L - 1 and has the target row i + L.
local targets = series:narrow(1, L + 1, n - L)
local function windows(first, last, shuffle)
  return dnn.data.timeseries(series, {sequence_length = L, targets = targets, start_index = first - L,
                                      end_index = last - 1, batch_size = 32, shuffle = shuffle, seed = opts.seed})
end
local train = windows(L + 1, last_train, true)
local val, test = windows(last_train + 1, last_val), windows(last_val + 1, n)
print(string.format("sunspots %d-%d: %d training windows (targets %d-1899), %d validation (1900-1949), %d test " ..
  "(1950-%d), %d years each", years[1], years[n], train.n, years[L + 1], val.n, test.n, years[n], L))

-- ---- the LSTM ----

local model = nn.Sequential{nn.Input{L, 1}, nn.LSTM(opts.units), nn.Dense(1)}
model:summary()
model:compile{optimizer = dnn.optim.Adam{learning_rate = 3e-3}, loss = "mse", metrics = {"mae"}}
local started = dnn.wall_time()
local history = model:fit(train, {epochs = opts.epochs, validation_data = val, verbose = 0,
  callbacks = {dnn.callbacks.EarlyStopping{monitor = "val_loss", patience = opts.epochs, restore_best_weights = true}}})
print(string.format("trained %d epochs in %.1fs", opts.epochs, dnn.wall_time() - started))

-- ---- test ----

local predicted = (model:predict(test, {verbose = 0}) * std + mean):reshape(-1):totable()
local truth, lstm, naive, seasonal = {}, 0, 0, 0
for k = 1, test.n do
  local r = last_val + k
  truth[k] = spots[r]
  lstm = lstm + math.abs(predicted[k] - spots[r]) / test.n
  naive = naive + math.abs(spots[r - 1] - spots[r]) / test.n
  seasonal = seasonal + math.abs(spots[r - 11] - spots[r]) / test.n
end

-- ---- pictures ----

-- A line chart of the test years: the truth, the LSTM's forecasts and the naive one, with axes and a legend.
local function forecast_chart(path)
  local image = dnn.image
  local W, H, left, right, top, bottom = 720, 360, 56, 700, 40, 320
  local cv = image.canvas(H, W)
  local black, gray = {0, 0, 0}, {0.6, 0.6, 0.6}
  local hi = 0
  for k = 1, test.n do hi = math.max(hi, truth[k], predicted[k]) end
  hi = math.ceil(hi / 50) * 50
  local function px(k) return left + (k - 1) / (test.n - 1) * (right - left) end
  local function py(v) return bottom - v / hi * (bottom - top) end
  local title = "sunspots: one year ahead, test years"
  image.draw_text(cv, (W - image.text_width(title, 2)) / 2, 10, title, black, {scale = 2})
  for v = 0, hi, 50 do
    image.draw_line(cv, left, py(v), right, py(v), {0.9, 0.9, 0.9})
    image.draw_text(cv, left - 8 - image.text_width(tostring(v)), py(v) - 3, tostring(v), black)
  end
  for k = 1, test.n do
    local year = years[last_val + k]
    if year % 10 == 0 then image.draw_text(cv, px(k) - 12, bottom + 8, tostring(year), black) end
  end
  image.draw_rect(cv, left, top, right - left + 1, bottom - top + 1, black)
  local lines = {
    {"truth", truth, {0.12, 0.47, 0.71}, 0},
    {"LSTM", predicted, {1.0, 0.5, 0.05}, 0},
    {"naive", table.move(spots, last_val, n - 1, 1, {}), gray, 5},
  }
  for i, l in ipairs(lines) do
    for k = 2, test.n do
      image.draw_line(cv, px(k - 1), py(l[2][k - 1]), px(k), py(l[2][k]), l[3], {width = 2, dash = l[4]})
    end
    image.draw_line(cv, right - 90, top + 4 + 12 * i, right - 66, top + 4 + 12 * i, l[3], {width = 2, dash = l[4]})
    image.draw_text(cv, right - 60, top + 1 + 12 * i, l[1], black)
  end
  image.save(cv, path)
end

local chart, curves = opts.out .. "/timeseries_forecast.png", opts.out .. "/timeseries_curves.png"
forecast_chart(chart)
dnn.plot.history(history, curves, {title = "timeseries: sunspots"})
print(string.format("saved %s and %s", chart, curves))
print(string.format("test MAE, %d-%d (sunspot number):", years[last_val + 1], years[n]))
print(string.format("  naive (last year)          %6.2f", naive))
print(string.format("  seasonal naive (11 years)  %6.2f", seasonal))
print(string.format("  LSTM                       %6.2f", lstm))
print(lstm < naive and lstm < seasonal and "the LSTM beats both baselines" or "the LSTM does not beat both baselines")
