-- The examples' command lines: lua-argparse parsers that exit with status 2
-- on a bad flag, and the checked numeric options they share. Loaded with
-- dofile from the script's folder:
--   local args = dofile((arg[0]:match("^(.*)/") or ".") .. "/lib/args.lua")
local argparse = require "argparse"

local args = {}

-- A parser for the example `name` (its file name, shown in the usage), with
-- -h/--help printing the usage and the one-line `description`. argparse exits
-- with status 1 on a usage error; 2 is the shell's convention (getopt,
-- Python's argparse) and what the examples have always returned.
function args.parser(name, description)
  local parser = argparse(name, description)
  parser.error = function(self, message)
    io.stderr:write(string.format("%s\n\nError: %s\n", self:get_usage(), message))
    os.exit(2)
  end
  return parser
end

-- Value checks: each takes the flag's text and returns the value, or nil and
-- what was expected.
function args.positive_integer(text)
  local n = math.tointeger(tonumber(text))
  if n and n >= 1 then return n end
  return nil, "a positive integer"
end

-- For seeds. A negative value would need --seed=-1 anyway: argparse takes
-- "-1" after a space for a flag.
function args.nonnegative_integer(text)
  local n = math.tointeger(tonumber(text))
  if n and n >= 0 then return n end
  return nil, "a non-negative integer"
end

function args.positive_number(text)
  local x = tonumber(text)
  if x and x > 0 and x < math.huge then return x end
  return nil, "a positive number"
end

-- Rates and decays: at least 0, below 1.
function args.fraction(text)
  local x = tonumber(text)
  if x and x >= 0 and x < 1 then return x end
  return nil, "a number in [0, 1)"
end

-- Adds the option `flag` (e.g. "--batch-size", stored as batch_size) taking
-- one value that `check` (one of the checks above) converts; a bad value
-- stops with a message naming the flag, what it expects and what came.
-- `default` (optional) is shown in the help and used when the flag is absent.
function args.number_option(parser, flag, description, default, check)
  local option = parser:option(flag, description, default and tostring(default))
  option:argname("N")
  option:convert(function(text)
    local value, expected = check(text)
    if value == nil then return nil, string.format("%s expects %s, got '%s'", flag, expected, text) end
    return value
  end)
  return option
end

-- Adds --out DIR (default "."), the folder the example writes its files to.
-- It must exist, which is checked now: not when the first picture is saved,
-- possibly after many minutes of training.
function args.out_dir_option(parser, description)
  local option = parser:option("--out", description, ".")
  option:argname("DIR")
  option:convert(function(text)
    local probe = io.open(text .. "/") -- opens a folder; fails for a file or a missing path
    if not probe then return nil, string.format("--out expects an existing folder, got '%s'", text) end
    probe:close()
    return text
  end)
  return option
end

return args
