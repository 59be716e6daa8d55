/* dnnlua: the host program. Runs scripts and a REPL as Lua 5.4's own lua.c
 * does (same options, same `arg` table, same LUA_INIT, same error reports),
 * with the dnn library embedded and preloaded as the global `dnn`, and a
 * libedit REPL with history and tab completion of names and fields.
 *
 * libedit, not GNU readline: readline is GPL, and dnnlua is MIT as Lua. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <editline/readline.h>
#include <lualib.h>

#include "ldnn.h"

#define DNNLUA_PROMPT "> "
#define DNNLUA_PROMPT2 ">> "
#define HISTORY_FILE ".dnnlua_history"
#define HISTORY_MAX 1000
#define EOFMARK "<eof>"

/* Errors read "dnnlua: msg" however the program was invoked (lua.c uses argv[0]). */
static const char *progname = "dnnlua";

/* ---- Ctrl-C: as lua.c, the signal handler only sets a hook, and the hook
 * raises the error at the next safe point of the running Lua code. ---- */

static lua_State *global_L;

static void set_signal(int sig, void (*handler)(int)) {
  struct sigaction sa;
  sa.sa_handler = handler;
  sa.sa_flags = 0;
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, NULL);
}

static void lstop(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  luaL_error(L, "interrupted!");
}

static void laction(int sig) {
  set_signal(sig, SIG_DFL); /* a second Ctrl-C kills the process */
  lua_sethook(global_L, lstop, LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT, 1);
}

/* ---- reporting ---- */

static void l_message(const char *pname, const char *msg) {
  if (pname) fprintf(stderr, "%s: ", pname);
  fprintf(stderr, "%s\n", msg);
  fflush(stderr);
}

/* Prints the error on top of the stack (if status says there is one). */
static int report(lua_State *L, int status) {
  if (status != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    /* Under mpirun (dnn.distributed.init() in a world of several): this rank's message, then the whole job ends
     * (MPI_Abort) instead of the other ranks waiting for this one forever. Returns otherwise. */
    dnn_dist_abort(msg ? msg : "(error object is not a string)", EXIT_FAILURE);
    l_message(progname, msg ? msg : "(error object is not a string)");
    lua_pop(L, 1);
  }
  return status;
}

/* Calls the function below narg arguments with the traceback handler and
 * Ctrl-C armed. */
static int docall(lua_State *L, int narg, int nres) {
  int base = lua_gettop(L) - narg;
  lua_pushcfunction(L, ldnn_msghandler);
  lua_insert(L, base);
  global_L = L;
  set_signal(SIGINT, laction);
  int status = lua_pcall(L, narg, nres, base);
  set_signal(SIGINT, SIG_DFL);
  lua_remove(L, base);
  return status;
}

static int dochunk(lua_State *L, int status) {
  if (status == LUA_OK) status = docall(L, 0, 0);
  return report(L, status);
}

static int dofile(lua_State *L, const char *name) { return dochunk(L, luaL_loadfile(L, name)); }

static int dostring(lua_State *L, const char *s, const char *name) {
  return dochunk(L, luaL_loadbuffer(L, s, strlen(s), name));
}

/* -l mod or -l g=mod: g = require(mod). */
static int dolibrary(lua_State *L, char *globname) {
  char *modname = strchr(globname, '=');
  if (modname == NULL) {
    modname = globname;
  } else {
    *modname = '\0';
    modname++;
  }
  lua_getglobal(L, "require");
  lua_pushstring(L, modname);
  int status = docall(L, 1, 1);
  if (status == LUA_OK) lua_setglobal(L, globname);
  return report(L, status);
}

/* ---- version and usage ---- */

static void print_version(lua_State *L) {
  const char *version = "?";
  if (lua_getglobal(L, "dnn") == LUA_TTABLE && lua_getfield(L, -1, "version") == LUA_TSTRING) {
    version = lua_tostring(L, -1);
  }
  printf("dnnlua %s (%s, %s)\n", version, LUA_RELEASE, dnn_blas_config());
  fflush(stdout);
  lua_settop(L, 0);
}

static void write_usage(FILE *out) {
  fprintf(out,
          "usage: %s [options] [script [args]]\n"
          "Available options are:\n"
          "  -e stat   execute string 'stat'\n"
          "  -i        enter interactive mode after executing 'script'\n"
          "  -l mod    require library 'mod' into global 'mod'\n"
          "  -l g=mod  require library 'mod' into global 'g'\n"
          "  -v, --version  show version information\n"
          "  -E        ignore environment variables\n"
          "  -W        turn warnings on\n"
          "  -h, --help  show this help\n"
          "  --        stop handling options\n"
          "  -         stop handling options and execute stdin\n"
          "The library is loaded as the global 'dnn'; help(x) prints the reference entry of x.\n"
          "DNN_NUM_THREADS sets the thread count.\n",
          progname);
}

static void print_usage(const char *badoption) {
  fprintf(stderr, "%s: ", progname);
  if (badoption[1] == 'e' || badoption[1] == 'l')
    fprintf(stderr, "'%s' needs argument\n", badoption);
  else
    fprintf(stderr, "unrecognized option '%s'\n", badoption);
  write_usage(stderr);
  fflush(stderr);
}

/* --help: the usage, then where to go next, on stdout. */
static void print_help(void) {
  write_usage(stdout);
  printf(
      "\n"
      "Examples:\n"
      "  %s train.lua --epochs 5     run a training script with its arguments\n"
      "  %s                          the REPL (Tab completes names, fields and methods; Ctrl-D quits)\n"
      "  %s -e 'help(dnn.nn.Dense)'  the reference entry of a function, class, object or name\n"
      "  %s -e 'print(dnn.randn(2, 3))'\n"
      "Environment: DNN_NUM_THREADS (threads for OpenMP and OpenBLAS together), LUA_INIT,\n"
      "LUA_PATH and LUA_CPATH (as lua5.4). The manual: man dnnlua.\n",
      progname, progname, progname, progname);
  fflush(stdout);
}

/* ---- command line ---- */

/* arg[0] = the script, arg[-1]... = the interpreter and options, arg[1]... =
 * the script's arguments; with no script, arg[0] is the interpreter. */
static void create_arg_table(lua_State *L, char **argv, int argc, int script) {
  if (script == argc) script = 0;
  lua_createtable(L, argc - (script + 1), script + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

/* Pushes arg[1..#arg], the script's `...`. */
static int push_args(lua_State *L) {
  if (lua_getglobal(L, "arg") != LUA_TTABLE) luaL_error(L, "'arg' is not a table");
  int n = (int)luaL_len(L, -1);
  luaL_checkstack(L, n + 3, "too many arguments to script");
  int i;
  for (i = 1; i <= n; i++) lua_rawgeti(L, -i, i);
  lua_remove(L, -i);
  return n;
}

static int handle_script(lua_State *L, char **argv) {
  const char *fname = argv[0];
  if (strcmp(fname, "-") == 0 && strcmp(argv[-1], "--") != 0) fname = NULL; /* stdin */
  int status = luaL_loadfile(L, fname);
  if (status == LUA_OK) {
    int n = push_args(L);
    status = docall(L, n, LUA_MULTRET);
  }
  return report(L, status);
}

enum { HAS_ERROR = 1, HAS_I = 2, HAS_V = 4, HAS_E = 8, HAS_BIG_E = 16, HAS_HELP = 32 };

/* Scans the options; *first gets the index of the script (argc if none), or
 * of the bad option when HAS_ERROR comes back. */
static int collect_args(char **argv, int *first) {
  int args = 0;
  int i;
  if (argv[0] == NULL) {
    *first = -1;
    return 0;
  }
  for (i = 1; argv[i] != NULL; i++) {
    *first = i;
    if (argv[i][0] != '-') return args; /* the script */
    switch (argv[i][1]) {
      case '-': /* --, --help or --version */
        if (strcmp(argv[i], "--help") == 0) return args | HAS_HELP;
        if (strcmp(argv[i], "--version") == 0) {
          args |= HAS_V;
          break;
        }
        if (argv[i][2] != '\0') return HAS_ERROR;
        *first = i + 1;
        return args;
      case '\0': /* - : the script is stdin */
        return args;
      case 'h':
        if (argv[i][2] != '\0') return HAS_ERROR;
        return args | HAS_HELP;
      case 'E':
        if (argv[i][2] != '\0') return HAS_ERROR;
        args |= HAS_BIG_E;
        break;
      case 'W':
        if (argv[i][2] != '\0') return HAS_ERROR;
        break;
      case 'i':
        args |= HAS_I; /* -i implies -v */
        /* fall through */
      case 'v':
        if (argv[i][2] != '\0') return HAS_ERROR;
        args |= HAS_V;
        break;
      case 'e':
        args |= HAS_E;
        /* fall through */
      case 'l': /* both take an argument, joined or next */
        if (argv[i][2] == '\0') {
          i++;
          if (argv[i] == NULL || argv[i][0] == '-') return HAS_ERROR;
        }
        break;
      default:
        return HAS_ERROR;
    }
  }
  *first = i;
  return args;
}

/* Runs -e and -l (and -W) in order; 0 when one failed. */
static int run_args(lua_State *L, char **argv, int n) {
  for (int i = 1; i < n; i++) {
    int option = argv[i][1];
    if (option == 'e' || option == 'l') {
      char *extra = argv[i] + 2;
      if (*extra == '\0') extra = argv[++i];
      int status = option == 'e' ? dostring(L, extra, "=(command line)") : dolibrary(L, extra);
      if (status != LUA_OK) return 0;
    } else if (option == 'W') {
      lua_warning(L, "@on", 0);
    }
  }
  return 1;
}

/* LUA_INIT_5_4 or LUA_INIT: a chunk, or @file. */
static int handle_luainit(lua_State *L) {
  const char *name = "=LUA_INIT_5_4";
  const char *init = getenv(name + 1);
  if (init == NULL) {
    name = "=LUA_INIT";
    init = getenv(name + 1);
  }
  if (init == NULL) return LUA_OK;
  if (init[0] == '@') return dofile(L, init + 1);
  return dostring(L, init, name);
}

/* ---- the REPL: line input ---- */

static int use_editline; /* stdin is a terminal */
static char history_path[4096];

static void init_history(void) {
  const char *env = getenv("DNNLUA_HISTORY");
  const char *home = getenv("HOME");
  if (env && *env)
    snprintf(history_path, sizeof history_path, "%s", env);
  else if (home && *home)
    snprintf(history_path, sizeof history_path, "%s/%s", home, HISTORY_FILE);
  else
    history_path[0] = '\0';
  using_history();
  stifle_history(HISTORY_MAX);
  if (history_path[0]) read_history(history_path); /* a missing file is fine */
}

static void save_line(const char *line) {
  if (!use_editline || line[0] == '\0') return;
  add_history(line);
  /* The whole (stifled) history each time: Debian 12's libedit appends one
   * entry too many with append_history(n), duplicating every line. */
  if (history_path[0]) write_history(history_path);
}

/* Reads one line (without its newline) into a malloc'd string; NULL at end of
 * input. Without a terminal, prompts go to stdout as lua.c's plain build. */
static char *read_line(const char *prompt) {
  if (use_editline) return readline(prompt);
  fputs(prompt, stdout);
  fflush(stdout);
  char *line = NULL;
  size_t cap = 0;
  ssize_t n = getline(&line, &cap, stdin);
  if (n < 0) {
    free(line);
    return NULL;
  }
  if (n > 0 && line[n - 1] == '\n') line[n - 1] = '\0';
  return line;
}

/* ---- the REPL: tab completion ---- */

/* dnn.completion (lua/dnn/completion.lua) decides what Tab offers: names,
 * fields after '.' and methods after ':' of any chain expression; this
 * part hands it the line and gives libedit its answer. */

static lua_State *completion_L;
static char **candidates;
static int ncandidates, next_candidate;

static void free_candidates(void) {
  for (int i = 0; i < ncandidates; i++) free(candidates[i]);
  free(candidates);
  candidates = NULL;
  ncandidates = next_candidate = 0;
}

/* Protected: dnn.completion.complete(line, word), an array of strings. */
static int collect_completions(lua_State *L) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "dnn.completion");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "complete");
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  lua_call(L, 2, 1);
  luaL_checktype(L, -1, LUA_TTABLE);
  return 1;
}

/* Copies the array on top into candidates. */
static void take_candidates(lua_State *L) {
  lua_Integer n = luaL_len(L, -1);
  candidates = calloc((size_t)n + 1, sizeof *candidates);
  if (!candidates) return;
  for (lua_Integer i = 1; i <= n; i++) {
    const char *c = lua_rawgeti(L, -1, i) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    char *copy = c ? strdup(c) : NULL;
    if (copy) candidates[ncandidates++] = copy;
    lua_pop(L, 1);
  }
}

static char *candidate_generator(const char *text, int state) {
  (void)text;
  if (state == 0) next_candidate = 0;
  if (next_candidate < ncandidates) return strdup(candidates[next_candidate++]);
  return NULL;
}

/* text is the word being completed (line[start, end)); dnn.completion sees
 * the whole line up to the cursor, so "model.layers[1]:" reaches it. */
static char **complete(const char *text, int start, int end) {
  (void)start;
  rl_attempted_completion_over = 1; /* no file names */
  lua_State *L = completion_L;
  int top = lua_gettop(L);
  free_candidates();
  lua_pushcfunction(L, collect_completions);
  lua_pushlstring(L, rl_line_buffer, (size_t)end);
  lua_pushstring(L, text);
  if (lua_pcall(L, 2, 1, 0) == LUA_OK) take_candidates(L);
  lua_settop(L, top);
  if (ncandidates == 0) return NULL;
  return rl_completion_matches(text, candidate_generator);
}

static void init_editline(lua_State *L) {
  use_editline = isatty(STDIN_FILENO);
  if (!use_editline) return;
  completion_L = L;
  rl_readline_name = "dnnlua";
  /* '.' and ':' are not breaks, so "dnn.ze" reaches complete() whole */
  static char breaks[] = " \t\n\"\\'`@$><=;|&{}()[],+-*/%^~#";
  rl_basic_word_break_characters = breaks;
  rl_completer_word_break_characters = breaks;
  rl_completion_append_character = '\0';
  rl_attempted_completion_function = complete;
  init_history();
}

/* ---- the REPL: lua.c's evaluation loop ---- */

static const char *get_prompt(lua_State *L, int firstline) {
  if (lua_getglobal(L, firstline ? "_PROMPT" : "_PROMPT2") == LUA_TNIL) {
    lua_pop(L, 1);
    lua_pushstring(L, firstline ? DNNLUA_PROMPT : DNNLUA_PROMPT2);
  }
  return luaL_tolstring(L, -1, NULL); /* stays on the stack while in use */
}

/* A syntax error at <eof>: the statement goes on on the next line. The
 * message stays on the stack, to report if no next line comes. */
static int incomplete(lua_State *L, int status) {
  if (status == LUA_ERRSYNTAX) {
    size_t lmsg;
    const char *msg = lua_tolstring(L, -1, &lmsg);
    size_t mark = sizeof EOFMARK - 1;
    if (lmsg >= mark && strcmp(msg + lmsg - mark, EOFMARK) == 0) return 1;
  }
  return 0;
}

/* Reads a line and pushes it; 0 at end of input. */
static int push_line(lua_State *L, int firstline) {
  int top = lua_gettop(L);
  char *b = read_line(get_prompt(L, firstline));
  lua_settop(L, top); /* the prompt and its source value */
  if (b == NULL) return 0;
  if (firstline && b[0] == '=')
    lua_pushfstring(L, "return %s", b + 1); /* as 5.2 did */
  else
    lua_pushstring(L, b);
  free(b);
  return 1;
}

/* Tries the line as "return <line>;", so expressions print their values. */
static int add_return(lua_State *L) {
  const char *line = lua_tostring(L, -1);
  const char *retline = lua_pushfstring(L, "return %s;", line);
  int status = luaL_loadbuffer(L, retline, strlen(retline), "=stdin");
  if (status == LUA_OK) {
    lua_remove(L, -2);
    save_line(line);
  } else {
    lua_pop(L, 2);
  }
  return status;
}

/* Adds lines until the statement is complete (or fails for another reason). */
static int multiline(lua_State *L) {
  for (;;) {
    size_t len;
    const char *line = lua_tolstring(L, 1, &len);
    int status = luaL_loadbuffer(L, line, len, "=stdin");
    if (!incomplete(L, status) || !push_line(L, 0)) {
      save_line(line);
      return status;
    }
    lua_remove(L, -2); /* the message about the incomplete line */
    lua_pushliteral(L, "\n");
    lua_insert(L, -2);
    lua_concat(L, 3);
  }
}

/* Leaves one compiled chunk (or an error) on the stack; -1 at end of input. */
static int load_line(lua_State *L) {
  lua_settop(L, 0);
  if (!push_line(L, 1)) return -1;
  int status = add_return(L);
  if (status != LUA_OK) status = multiline(L);
  lua_remove(L, 1);
  return status;
}

/* Pushes the REPL's printer: dnn.inspect's print_results (plain tables as
 * readable, depth- and length-limited constructors; the rest as tostring),
 * or the global print when that module cannot load. */
static void push_printer(lua_State *L) {
  int top = lua_gettop(L);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "dnn.inspect");
  if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_getfield(L, -1, "print_results") == LUA_TFUNCTION) {
    lua_remove(L, -2);
    return;
  }
  lua_settop(L, top);
  lua_getglobal(L, "print");
}

/* Prints the results on the stack. */
static void print_results(lua_State *L) {
  int n = lua_gettop(L);
  if (n > 0) {
    luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
    push_printer(L);
    lua_insert(L, 1);
    if (lua_pcall(L, n, 0, 0) != LUA_OK)
      l_message(progname, lua_pushfstring(L, "error printing the results (%s)", lua_tostring(L, -1)));
  }
}

static void do_repl(lua_State *L) {
  const char *oldprogname = progname;
  progname = NULL; /* errors at the prompt are not prefixed */
  init_editline(L);
  int status;
  while ((status = load_line(L)) != -1) {
    if (status == LUA_OK) status = docall(L, 0, LUA_MULTRET);
    if (status == LUA_OK)
      print_results(L);
    else
      report(L, status);
  }
  lua_settop(L, 0);
  free_candidates();
  fputs("\n", stdout);
  fflush(stdout);
  progname = oldprogname;
}

/* ---- main ---- */

/* dnn as a global, and dnn.help as the global help, as Python's REPL has. */
static int open_dnn(lua_State *L) {
  luaL_requiref(L, "dnn", ldnn_open_library, 1); /* package.loaded.dnn and the global */
  lua_getfield(L, -1, "help");
  lua_setglobal(L, "help");
  return 0;
}

/* OpenMP threads that wait for work spin for 300,000 rounds (about 3 ms)
 * before they sleep, libgomp's default: when another process holds a core,
 * the spinning threads take the time the working one needs and training gets
 * several times slower. Unless the user chose a policy (OMP_WAIT_POLICY or
 * GOMP_SPINCOUNT), dnnlua has them spin for 1,000 rounds (about 10 us, what
 * libgomp itself uses on an oversubscribed machine), enough to catch the next
 * parallel region of a step. libgomp reads these settings once, in its
 * initializer, which runs before main and even before an executable's
 * .preinit_array can set the environment (libc resets it after that): so
 * dnnlua sets the variable and runs itself again, once. A failed exec leaves
 * libgomp's default. On one thread nobody waits, and the second start (a few
 * ms) is skipped. */
static void default_wait_policy(char **argv) {
  if (getenv("OMP_WAIT_POLICY") != NULL || getenv("GOMP_SPINCOUNT") != NULL) return;
  const char *dnn_threads = getenv("DNN_NUM_THREADS"), *omp_threads = getenv("OMP_NUM_THREADS");
  if ((dnn_threads && strcmp(dnn_threads, "1") == 0) ||
      (!dnn_threads && omp_threads && strcmp(omp_threads, "1") == 0) || sysconf(_SC_NPROCESSORS_ONLN) == 1)
    return; /* one thread: nobody waits */
  if (setenv("GOMP_SPINCOUNT", "1000", 0) != 0) return;
  execv("/proc/self/exe", argv);
}

/* DNN_NUM_THREADS=n sets the one thread budget; unset keeps OpenMP's default. */
static void apply_num_threads(void) {
  const char *s = getenv("DNN_NUM_THREADS");
  if (s == NULL || *s == '\0') return;
  char *end;
  errno = 0;
  long n = strtol(s, &end, 10);
  if (errno || *end != '\0' || n < 1 || n > 4096) {
    fprintf(stderr, "%s: ignoring DNN_NUM_THREADS='%s' (expected a thread count >= 1)\n", progname, s);
    return;
  }
  dnn_set_num_threads((int)n);
}

static int pmain(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = (char **)lua_touserdata(L, 2);
  int script;
  int args = collect_args(argv, &script);
  luaL_checkversion(L);
  if (args == HAS_ERROR) {
    print_usage(argv[script]);
    return 0;
  }
  if (args & HAS_HELP) {
    print_help();
    lua_pushboolean(L, 1);
    return 1;
  }
  if (args & HAS_BIG_E) {
    lua_pushboolean(L, 1); /* tells the libraries to ignore LUA_PATH and friends */
    lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
  }
  luaL_openlibs(L);
  create_arg_table(L, argv, argc, script);
  lua_pushcfunction(L, open_dnn);
  if (dochunk(L, LUA_OK) != LUA_OK) return 0;
  /* Generational, as lua.c: most tensors die young, and minor collections
   * free them in small batches that malloc takes cheaply (a 1-element add
   * costs 0.4 us here against 2 us in incremental mode). An old tensor that
   * holds big storage is not left to a rare major collection: the storage
   * itself paces full collections (ldnn_push_tensor in l_core.c). */
  lua_gc(L, LUA_GCRESTART);
  lua_gc(L, LUA_GCGEN, 0, 0);
  if (args & HAS_V) print_version(L);
  if (!(args & HAS_BIG_E) && handle_luainit(L) != LUA_OK) return 0;
  if (!run_args(L, argv, script)) return 0;
  if (script < argc && handle_script(L, argv + script) != LUA_OK) return 0;
  if (args & HAS_I) {
    do_repl(L);
  } else if (script == argc && !(args & (HAS_E | HAS_V))) {
    if (isatty(STDIN_FILENO)) {
      print_version(L);
      do_repl(L);
    } else {
      if (dofile(L, NULL) != LUA_OK) return 0;
    }
  }
  lua_pushboolean(L, 1);
  return 1;
}

int main(int argc, char **argv) {
  default_wait_policy(argv);
  apply_num_threads();
  lua_State *L = ldnn_new_state();
  if (L == NULL) {
    l_message(progname, "cannot create state: not enough memory");
    return EXIT_FAILURE;
  }
  lua_gc(L, LUA_GCSTOP); /* no collections while the state is built */
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  int status = lua_pcall(L, 2, 1, 0);
  int result = lua_toboolean(L, -1);
  report(L, status);
  ldnn_close_state(L);
  return (result && status == LUA_OK) ? EXIT_SUCCESS : EXIT_FAILURE;
}
