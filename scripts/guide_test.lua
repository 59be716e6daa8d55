-- Runs the code of one chapter of the user guide (docs/guide/*.md), so that
-- what the guide shows is what dnnlua does.
-- Usage: dnnlua scripts/guide_test.lua docs/guide/05_cnn.md
--
-- Every ```lua block runs, in order, in this one interpreter, as one chunk:
-- a later block sees an earlier block's locals, as a reader following the
-- chapter would have them. The chunk keeps the Markdown file's line numbers
-- (prose lines become empty lines), so an error names the .md file and line.
-- ```c blocks are compiled against the build tree (DNNLUA_INCLUDE, DNNLUA_LIB;
-- GUIDE_CFLAGS adds flags, e.g. a sanitizer's) and run at their place in the
-- chapter, from the current folder; they are skipped with a message when
-- those variables are not set. A block fenced
-- ```lua norun (or ```c norun) is shown and not run: only for code that
-- cannot run on its own. Pictures go to $GUIDE_IMG_DIR (the blocks read it;
-- default docs/guide/img); the ctest points it at a folder of the build.
local path = arg[1]
if not path then
  io.stderr:write("usage: dnnlua scripts/guide_test.lua CHAPTER.md\n")
  os.exit(2)
end
local chapter = path:match("[^/]+$")

local file = assert(io.open(path, "r"))
local lines = {}
for line in file:lines() do lines[#lines + 1] = line end
file:close()

-- The chunk, line for line with the file. A fence line becomes a call that
-- records which block runs (and, for C, opens the long string of its source).
local C_OPEN, C_CLOSE = "[=======[", "]=======]"
local chunk, block_kind, n_blocks = {}, nil, 0
for i, line in ipairs(lines) do
  local fence = line:match("^```(.*)$")
  if block_kind == nil and fence then
    local lang, flag = fence:match("^(%w*)%s*(%w*)")
    if lang == "lua" and flag ~= "norun" then
      block_kind, chunk[i] = "lua", string.format("__guide_block(%d)", i)
      n_blocks = n_blocks + 1
    elseif lang == "c" and flag ~= "norun" then
      block_kind, chunk[i] = "c", string.format("__guide_block(%d) __guide_c(%d, %s", i, i, C_OPEN)
      n_blocks = n_blocks + 1
    else
      block_kind, chunk[i] = "skip", ""
    end
  elseif block_kind ~= nil and line:match("^```%s*$") then
    chunk[i] = block_kind == "c" and C_CLOSE .. ")" or ""
    block_kind = nil
  elseif block_kind == "lua" or block_kind == "c" then
    chunk[i] = line
  else
    chunk[i] = ""
  end
end
assert(block_kind == nil, chapter .. ": a code block is not closed")

local current_block
function __guide_block(line) current_block = line end

-- Compiles one C block against the build tree and runs it; its output shows
-- as the program's. A C block whose program fails fails the chapter.
function __guide_c(line, source)
  local include, lib = os.getenv("DNNLUA_INCLUDE"), os.getenv("DNNLUA_LIB")
  if not (include and lib) then
    print(string.format("(C block at line %d not compiled: DNNLUA_INCLUDE and DNNLUA_LIB are not set)", line))
    return
  end
  local name = string.format("guide_c_%d", line)
  local src = assert(io.open(name .. ".c", "w"))
  src:write(source)
  src:close()
  local cc, cflags = os.getenv("CC") or "cc", os.getenv("GUIDE_CFLAGS") or ""
  local compile = string.format("%s -std=c11 -Wall -Werror %s -I'%s' %s.c -o %s -L'%s' -Wl,-rpath,'%s' -ldnnlua",
    cc, cflags, include, name, name, lib, lib)
  if not os.execute(compile) then error(string.format("the C block does not compile: %s", compile), 0) end
  if not os.execute("./" .. name) then error("the C program exited with an error", 0) end
end

local fn, syntax_error = load(table.concat(chunk, "\n"), "@" .. path, "t")
if not fn then
  io.stderr:write(string.format("guide_test: %s: %s\n", chapter, syntax_error))
  os.exit(1)
end
local started = dnn.wall_time()
local ok, err = xpcall(fn, debug.traceback)
if not ok then
  io.stderr:write(string.format("guide_test: %s, the block at line %s failed:\n%s\n", chapter,
    tostring(current_block), tostring(err)))
  os.exit(1)
end
print(string.format("guide_test: %s: %d blocks ran in %.1f s", chapter, n_blocks, dnn.wall_time() - started))
