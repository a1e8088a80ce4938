// One error hierarchy for tcplab: a stable code, a message that says what failed
// and on what, evidence, and one concrete `hint`. Only src/cli catches these to
// choose an exit code (see exitCodeOf).

export interface TcplabErrorOptions {
  hint?: string | undefined
  cause?: unknown
}

/** Base class: every error tcplab throws on purpose. */
export class TcplabError extends Error {
  readonly code: string
  readonly hint: string | undefined
  /** Process exit code the CLI uses for this error. */
  readonly exitCode: number = 1

  constructor(code: string, message: string, opts: TcplabErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.name = new.target.name
    this.code = code
    this.hint = opts.hint
  }

  /** Message, then `hint:` line when there is one. */
  format(): string {
    return this.hint ? `${this.message}\nhint: ${this.hint}` : this.message
  }
}

/** Where in a scenario file a problem is. Lines and columns are 1-based. */
export interface SourcePos {
  file: string
  line: number
  col: number
}

/** One problem found in a scenario file. */
export interface ScenarioIssue extends SourcePos {
  /** Path inside the document, e.g. `steps[2].at`. */
  path: string
  message: string
}

/** A scenario file (or a command-line argument) is malformed: exit 2. */
export class ScenarioError extends TcplabError {
  override readonly exitCode = 2
  readonly issues: ScenarioIssue[]

  constructor(issues: ScenarioIssue[], opts: TcplabErrorOptions = {}) {
    super('E_SCENARIO', issues.map(formatIssue).join('\n'), opts)
    this.issues = issues
  }
}

/** `file:line:col path: message`, the format editors and terminals link. */
export function formatIssue(i: ScenarioIssue): string {
  const where = `${i.file}:${i.line}:${i.col}`
  return i.path ? `${where} ${i.path}: ${i.message}` : `${where} ${i.message}`
}

/** Wrong command-line usage: exit 2. */
export class UsageError extends TcplabError {
  override readonly exitCode = 2
  constructor(message: string, opts: TcplabErrorOptions = {}) {
    super('E_USAGE', message, opts)
  }
}

/** The machine lacks something (privilege, a tool, a daemon, an image): exit 3. */
export class EnvironmentError extends TcplabError {
  override readonly exitCode = 3
  constructor(code: string, message: string, opts: TcplabErrorOptions = {}) {
    super(code, message, opts)
  }
}

/** Not root / no CAP_NET_ADMIN. */
export class PrivilegeError extends EnvironmentError {
  constructor(message: string, opts: TcplabErrorOptions = {}) {
    super('E_PRIVILEGE', message, {
      hint: 'run as root (sudo tcplab ...) or grant CAP_NET_ADMIN and CAP_SYS_ADMIN',
      ...opts,
    })
  }
}

/** A required program is not installed. */
export class MissingToolError extends EnvironmentError {
  readonly tool: string
  constructor(tool: string, pkg: string, opts: TcplabErrorOptions = {}) {
    super('E_MISSING_TOOL', `required program "${tool}" was not found on PATH`, {
      hint: `apt-get install -y ${pkg}`,
      ...opts,
    })
    this.tool = tool
  }
}

/** Building or tearing down a lab failed. */
export class LabError extends TcplabError {
  constructor(message: string, opts: TcplabErrorOptions = {}) {
    super('E_LAB', message, opts)
  }
}

/** What a finished (or killed) command left behind, for error messages. */
export interface ProcessFailure {
  argv: readonly string[]
  /** Where it ran: a lab host name, or "local". */
  host: string
  exitCode: number | undefined
  signal: string | undefined
  stderr: string
}

/** Known stderr signatures and the fix for each (like Playwright's startup log rewriting). */
const STDERR_HINTS: Array<[RegExp, string]> = [
  [/Operation not permitted|Permission denied \(you must be root\)/i, 'run as root or grant CAP_NET_ADMIN'],
  [/Bad rule|Couldn't load target|unknown option|Unknown arg|invalid port|host\/network .* not found/i,
    'check the rule with `iptables -A ... ` syntax (iptables(8), iptables-extensions(8)); the rule is passed as argv, without a shell'],
  [/Specified qdisc kind is unknown|Unknown qdisc/i, 'this kernel lacks the qdisc (sch_netem is often not built); `tcplab doctor` lists the available ones'],
  [/cannot stat .*No such file or directory|unknown key|is an unknown key/i, 'this sysctl does not exist on this kernel; `tcplab doctor` lists the tcp sysctls'],
  [/Cannot open network namespace/i, 'the lab namespace is gone (was `tcplab gc` run during the scenario?)'],
  [/No such file or directory/i, 'the program is not installed in the lab host'],
]

/** A command failed: exit code 1 unless the cause says otherwise. */
export class ProcessError extends TcplabError {
  readonly failure: ProcessFailure
  constructor(failure: ProcessFailure, opts: TcplabErrorOptions = {}) {
    const how = failure.signal ? `was killed by ${failure.signal}` : `exited with code ${failure.exitCode ?? '?'}`
    const tail = stderrTail(failure.stderr)
    const msg = `command failed on ${failure.host}: ${failure.argv.join(' ')}\n  ${how}${tail ? `\n  stderr: ${tail}` : ''}`
    const hint = opts.hint ?? STDERR_HINTS.find(([re]) => re.test(failure.stderr))?.[1]
    super('E_PROCESS', msg, { ...opts, hint })
    this.failure = failure
  }
}

/** A step's command failed because of what the scenario asked for (bad iptables rule, unknown sysctl): exit 2. */
export class StepError extends TcplabError {
  override readonly exitCode = 2
  constructor(message: string, opts: TcplabErrorOptions = {}) {
    super('E_STEP', message, opts)
  }
}

/** Something did not happen in time. */
export class TimeoutError extends TcplabError {
  constructor(message: string, opts: TcplabErrorOptions = {}) {
    super('E_TIMEOUT', message, opts)
  }
}

/** The run was interrupted (Ctrl-C): exit 130. */
export class InterruptedError extends TcplabError {
  override readonly exitCode = 130
  constructor(message = 'interrupted', opts: TcplabErrorOptions = {}) {
    super('E_INTERRUPTED', message, opts)
  }
}

/** Last few non-empty lines of stderr, joined, at most ~400 characters. */
export function stderrTail(stderr: string, lines = 3): string {
  const tail = stderr.split('\n').map((l) => l.trim()).filter(Boolean).slice(-lines).join(' | ')
  return tail.length > 400 ? `...${tail.slice(-400)}` : tail
}

/** Exit code for anything thrown: TcplabError knows its own, anything else is a bug (1). */
export function exitCodeOf(e: unknown): number {
  return e instanceof TcplabError ? e.exitCode : 1
}
