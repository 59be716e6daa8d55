-- dnn.json: a small strict JSON encoder and decoder for model files.
-- Decoding is a parser, never load(): nothing in a file can run as code.
--
--   json.encode(value) -> string   -- tables with keys 1..n are arrays, other tables objects (sorted keys);
--                                     json.null / an empty array: json.array{}
--   json.decode(text)  -> value    -- nil, err on malformed input (with the byte offset)
local M = {}

M.null = setmetatable({}, {__tostring = function() return "null" end})
local array_mt = {}

-- Marks t as an array, so an empty one encodes as [] rather than {}.
function M.array(t)
  return setmetatable(t or {}, array_mt)
end

local escapes = {['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f', ['\n'] = '\\n', ['\r'] = '\\r',
                 ['\t'] = '\\t'}

local function encode_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c) return escapes[c] or string.format("\\u%04x", c:byte()) end) .. '"'
end

local function is_array(t)
  if getmetatable(t) == array_mt then return true end
  local n = #t
  if n == 0 then return false end
  local count = 0
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 or k > n then return false end
    count = count + 1
  end
  return count == n
end

local function encode(v, out, path, depth)
  local tv = type(v)
  if v == M.null or v == nil then
    out[#out + 1] = "null"
  elseif tv == "boolean" then
    out[#out + 1] = tostring(v)
  elseif tv == "number" then
    if math.type(v) == "integer" then
      out[#out + 1] = string.format("%d", v)
    elseif v ~= v or v == math.huge or v == -math.huge then
      error(string.format("json: cannot encode %s at %s", tostring(v), path), 0)
    else
      local text = string.format("%.15g", v) -- the shortest form that reads back as the same double
      if tonumber(text) ~= v then text = string.format("%.16g", v) end
      if tonumber(text) ~= v then text = string.format("%.17g", v) end
      if not text:find("[%.eEn]") then text = text .. ".0" end -- stays a float when read back
      out[#out + 1] = text
    end
  elseif tv == "string" then
    out[#out + 1] = encode_string(v)
  elseif tv == "table" and (getmetatable(v) == nil or getmetatable(v) == array_mt) then
    if depth > 64 then error("json: nesting deeper than 64 at " .. path, 0) end
    if is_array(v) then
      out[#out + 1] = "["
      for i = 1, #v do
        if i > 1 then out[#out + 1] = "," end
        encode(v[i], out, path .. "[" .. i .. "]", depth + 1)
      end
      out[#out + 1] = "]"
    else
      local keys = {}
      for k in pairs(v) do
        if type(k) ~= "string" then
          error(string.format("json: cannot encode a table mixing array items and fields at %s (key %s)", path,
            tostring(k)), 0)
        end
        keys[#keys + 1] = k
      end
      table.sort(keys)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        out[#out + 1] = encode_string(k)
        out[#out + 1] = ":"
        encode(v[k], out, path .. "." .. k, depth + 1)
      end
      out[#out + 1] = "}"
    end
  else
    error(string.format("json: cannot encode a %s at %s", tv == "table" and "table with a metatable (an object)" or tv,
      path), 0)
  end
end

function M.encode(v)
  local out = {}
  encode(v, out, "$", 0)
  return table.concat(out)
end

-- ---- decoding ----
local function decoder(text)
  local pos = 1
  local function fail(what)
    error({json = string.format("json: %s at byte %d", what, pos)}, 0)
  end
  local function skip()
    pos = text:find("[^ \t\r\n]", pos) or #text + 1
  end
  local value
  local function string_value()
    pos = pos + 1
    local parts = {}
    while true do
      local s, e, chunk, stop = text:find('^([^"\\%c]*)(.)', pos)
      if not s then fail("unterminated string") end
      parts[#parts + 1] = chunk
      pos = e + 1
      if stop == '"' then break end
      if stop ~= "\\" then fail("control character in a string") end
      local c = text:sub(pos, pos)
      local simple = ({['"'] = '"', ['\\'] = '\\', ['/'] = '/', b = '\b', f = '\f', n = '\n', r = '\r', t = '\t'})[c]
      if simple then
        parts[#parts + 1] = simple
        pos = pos + 1
      elseif c == "u" then
        local hex = text:match("^%x%x%x%x", pos + 1)
        if not hex then fail("bad \\u escape") end
        local code = tonumber(hex, 16)
        pos = pos + 5
        if code >= 0xD800 and code <= 0xDBFF then
          local low = text:match("^\\u(%x%x%x%x)", pos)
          local lo = low and tonumber(low, 16)
          if not lo or lo < 0xDC00 or lo > 0xDFFF then fail("unpaired surrogate") end
          code = 0x10000 + (code - 0xD800) * 0x400 + (lo - 0xDC00)
          pos = pos + 6
        elseif code >= 0xDC00 and code <= 0xDFFF then
          fail("unpaired surrogate")
        end
        parts[#parts + 1] = utf8.char(code)
      else
        fail("bad escape")
      end
    end
    return table.concat(parts)
  end
  local depth = 0
  function value()
    skip()
    local c = text:sub(pos, pos)
    if c == "{" or c == "[" then
      depth = depth + 1
      if depth > 64 then fail("nesting deeper than 64") end
      pos = pos + 1
      local close = c == "{" and "}" or "]"
      local result = c == "[" and M.array{} or {}
      skip()
      if text:sub(pos, pos) == close then
        pos = pos + 1
        depth = depth - 1
        return result
      end
      local n = 0
      while true do
        if c == "{" then
          skip()
          if text:sub(pos, pos) ~= '"' then fail("expected a string key") end
          local k = string_value()
          skip()
          if text:sub(pos, pos) ~= ":" then fail("expected ':'") end
          pos = pos + 1
          if result[k] ~= nil then fail("duplicate key '" .. k .. "'") end
          local v = value()
          result[k] = v
        else
          n = n + 1
          result[n] = value()
        end
        skip()
        local sep = text:sub(pos, pos)
        pos = pos + 1
        if sep == close then break end
        if sep ~= "," then
          pos = pos - 1
          fail("expected ',' or '" .. close .. "'")
        end
      end
      depth = depth - 1
      return result
    elseif c == '"' then
      return string_value()
    end
    for word, v in pairs{["true"] = true, ["false"] = false, ["null"] = M.null} do
      if text:sub(pos, pos + #word - 1) == word then
        pos = pos + #word
        return v
      end
    end
    local int = text:match("^-?%d+", pos)
    if not int or int:match("^-?0%d") then fail(c == "" and "unexpected end of text" or "unexpected '" .. c .. "'") end
    local num = int
    local frac = text:match("^%.%d+", pos + #num)
    if text:sub(pos + #num, pos + #num) == "." and not frac then fail("bad number") end
    num = num .. (frac or "")
    local exp = text:match("^[eE][-+]?%d+", pos + #num)
    if text:match("^[eE]", pos + #num) and not exp then fail("bad number") end
    num = num .. (exp or "")
    local v = tonumber(num)
    if v == math.huge or v == -math.huge then -- 1e999: JSON has no infinity, and encode refuses to write it back
      fail(string.format("number %s%s overflows a double", num:sub(1, 24), #num > 24 and "..." or ""))
    end
    pos = pos + #num
    if frac or exp then return v + 0.0 end
    return math.tointeger(v) or v
  end
  return function()
    local v = value()
    skip()
    if pos <= #text then fail("trailing characters") end
    return v
  end
end

function M.decode(text)
  if type(text) ~= "string" then return nil, "json: expected a string, got " .. type(text) end
  local ok, result = pcall(decoder(text))
  if ok then return result end
  if type(result) == "table" and result.json then return nil, result.json end
  error(result, 0)
end

return M
