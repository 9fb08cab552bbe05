//! check-gen: PMM advisor checks over the MySQL audit table: render, validate, test and run them.
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use audit_schema::TableNames;
use clap::{Args, Parser, Subcommand, ValueEnum};

#[cfg(feature = "run")]
use check_gen::cells::Alert;
#[cfg(feature = "deploy")]
use check_gen::file_version::FileVersion;
#[cfg(feature = "run")]
use check_gen::runner::Progress;
use check_gen::render::{Layout, Renderer, SqlOptions, Target};
use check_gen::spec::{self, CheckSpec};
use check_gen::validate;

mod realtime_cmd;

/// PMM advisor checks over the MySQL audit table that audit-ingest fills.
///
/// With no command, prints the dev-file target (version 2, advisor dev) to stdout. PMM reports a bad
/// checks file only in pmm-managed's log, so validate and test a file before copying it in.
#[derive(Debug, Parser)]
#[command(version, about, long_about, args_conflicts_with_subcommands = false, after_help = MAIN_EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    render: RenderArgs,
}

#[derive(Debug, Args)]
struct Common {
    /// Database of the audit table (validated: letters, digits, _ and $).
    #[arg(long, global = true, default_value = "percona")]
    database: String,
    /// The audit table; its heartbeat table is TABLE_checkpoint.
    #[arg(long, global = true, default_value = "audit_data")]
    table: String,
    /// Only these checks (repeatable); default all.
    #[arg(long = "only", global = true, value_name = "NAME")]
    only: Vec<String>,
    /// Read check specs from this directory instead of the built-in ones.
    #[arg(long, global = true, value_name = "DIR")]
    checks: Option<PathBuf>,
    /// Templates in this directory override the built-in ones of the same relative name.
    #[arg(long, global = true, value_name = "DIR")]
    templates: Option<PathBuf>,
    /// typed: the indexed columns audit-ingest writes; json: the original recipe's single audit_record
    /// JSON column (full table scans).
    #[arg(long = "table-layout", global = true, value_enum, default_value_t = Layout::Typed)]
    table_layout: Layout,
}

#[derive(Debug, Args)]
struct RenderArgs {
    /// Which PMM file layout to write; default dev-file (legacy with a --pmm-version before 2.36).
    #[arg(long, value_enum)]
    target: Option<Target>,
    /// The PMM release that will load the files (MAJOR.MINOR, e.g. 2.36): picks the format, the
    /// bundled files' extension and the dev file's variable; refuses a target that release cannot load.
    #[arg(long, value_name = "VERSION")]
    pmm_version: Option<check_gen::pmm_release::PmmVersion>,
    /// Write into this directory (required for bundled) instead of stdout.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Render the checks file for a target (the default command).
    #[command(after_help = RENDER_EXAMPLES)]
    Render(RenderArgs),
    /// Print a check's SQL as a standalone statement (with SELECT), for any client; for a
    /// METRICS_INSTANT check its MetricsQL (`{{.NodeName}}` is PMM's placeholder).
    #[command(after_help = SQL_EXAMPLES)]
    Sql {
        /// The check's name.
        name: String,
    },
    /// Check files against PMM's own rules for one PMM release. An error is a file PMM refuses to
    /// load; a warning is a file PMM loads whose check then fails when it runs.
    ///
    /// Exit status: 0 all good, 1 at least one error, 3 warnings only, 2 could not run.
    #[command(after_help = VALIDATE_EXAMPLES)]
    Validate {
        /// Check files (checks:) or bundled advisor files (advisors:).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The PMM release that will load the files (MAJOR.MINOR); default the newest known.
        #[arg(long, value_name = "VERSION")]
        pmm_version: Option<check_gen::pmm_release::PmmVersion>,
    },
    /// Run every check's script on its fixtures with PMM's Starlark dialect; print what print() said.
    /// Exits 1 if any fixture gives other alerts than it expects. Needs the `test` feature.
    #[command(after_help = TEST_EXAMPLES)]
    Test,
    /// Run the checks against a server as pmm-agent does and print the alerts.
    /// Exits 0 whether or not there are alerts, non-zero on any error. Needs the `run` feature.
    #[command(after_help = RUN_EXAMPLES)]
    Run {
        #[command(flatten)]
        connect: ConnectArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Hand DATETIME values to scripts as int nanoseconds (a service with a QAN agent) instead
        /// of str.
        #[arg(long)]
        parse_time: bool,
    },
    /// Create or update the checks in PMM's database through its advisor check API, as `custom_NAME`
    /// (PMM reserves that prefix for user checks). Only PMM builds with that API have it: no release
    /// up to 3.10 does (docs/pmm-releases.md); for them, render files instead. Needs the `deploy`
    /// feature.
    #[command(after_help = DEPLOY_EXAMPLES)]
    Deploy {
        /// The PMM server, e.g. https://pmm.example.com
        #[arg(long, value_name = "URL")]
        pmm_url: String,
        /// A file whose first line is a PMM (Grafana) service account token; default: the
        /// PMM_API_TOKEN environment variable. Never on the command line.
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        /// The category the checks are listed under in PMM.
        #[arg(long, default_value = "Security")]
        category: String,
    },
    /// List the checks with their severity and summary.
    #[command(after_help = LIST_EXAMPLES)]
    List,
    Alerts(realtime_cmd::AlertsArgs),
    Dashboard(realtime_cmd::DashboardArgs),
}

const MAIN_EXAMPLES: &str = "\
Examples:
  # PMM 3.x: write the checks file, check it, copy it in (it replaces the built-in checks)
  check-gen > custom-checks.yml
  check-gen validate custom-checks.yml
  docker cp custom-checks.yml pmm-server:/srv/custom-checks.yml
  # start pmm-server with -e PMM_DEV_ADVISOR_CHECKS_FILE=/srv/custom-checks.yml

  # PMM 3.4+: beside the built-in checks instead of replacing them
  check-gen render --target bundled --out advisors-dir

  # Prove the checks work: on their fixtures, then against your server
  check-gen test
  check-gen run --dsn mysql://pmm:secret@127.0.0.1:3306/

  # The 24-hour failed-login query, for the mysql client
  check-gen sql mysql_audit_failed_logins_24h

  # The original recipe's table (one audit_record JSON column)
  check-gen --table-layout json --database audit --table audit_log > custom-checks.yml";

const RENDER_EXAMPLES: &str = "\
Examples:
  check-gen render > custom-checks.yml                  # same as plain check-gen
  check-gen render --target legacy > custom-checks.yml  # PMM 2.9 to 2.35 (PERCONA_TEST_CHECKS_FILE)
  check-gen render --pmm-version 2.30 > custom-checks.yml  # the format PMM 2.30 loads (legacy)
  check-gen render --target bundled --out out/
      # writes out/advisors/mysql_audit_log.yaml and out/checks/NAME.yaml; copy them to
      # /usr/local/percona/pmm/advisors/ and /usr/local/percona/pmm/checks/ in pmm-server (PMM 3.4+)

PMM releases (docs/pmm-releases.md cites PMM's sources):
  2.9-2.11   legacy (version 1, tiers, check(rows))      PERCONA_TEST_CHECKS_FILE
  2.12-2.35  legacy (version 1, tiers, check_context)    PERCONA_TEST_CHECKS_FILE
  2.36-2.44  dev-file (version 2, advisor: dev)          PERCONA_TEST_CHECKS_FILE
  3.0-3.3    dev-file                                    PMM_DEV_ADVISOR_CHECKS_FILE
  3.4+       dev-file, or bundled *.yaml in /usr/local/percona/pmm/{advisors,checks} (3.5+: version 2 only)
  check-gen render --only mysql_audit_failed_logins_24h --only mysql_audit_pipeline_stale";

const SQL_EXAMPLES: &str = "\
Examples:
  check-gen sql mysql_audit_failed_logins_24h
  check-gen sql mysql_audit_failed_logins_24h | mysql -h db1 -u pmm -p
  check-gen --table-layout json sql mysql_audit_failed_logins_24h   # for the JSON-column table
  check-gen list                                                     # the check names";

const VALIDATE_EXAMPLES: &str = "\
Examples:
  check-gen validate custom-checks.yml
  check-gen validate out/advisors/*.yaml out/checks/*.yaml   # bundled files (PMM 3.4+), checked together
  check-gen validate --pmm-version 2.36 custom-checks.yml   # the rules of one release

Each problem names the file, line, check and the PMM releases its rule comes from, e.g.
  custom-checks.yml:12: error: check my_check: unknown key \"tier\" ... [PMM 2.9+; checked for PMM 3.10]
  custom-checks.yml:20: warning: check my_check: `while` is refused by PMM's Starlark ...
Exit status: 0 no problem, 1 errors (PMM refuses to load the file), 3 warnings only (PMM loads it,
the check fails when it runs), 2 could not run.";

const TEST_EXAMPLES: &str = "\
Examples:
  check-gen test
  check-gen test --only mysql_audit_bruteforce_source
  check-gen --checks my-checks/ --templates my-templates/ test   # your own checks";

const RUN_EXAMPLES: &str = "\
Examples:
  check-gen run --dsn mysql://pmm:secret@127.0.0.1:3306/
  check-gen run --dsn mysql://pmm:secret@db1:3306/ --format json --only mysql_audit_failed_logins_24h
  CHECK_GEN_DSN=mysql://pmm:secret@db1:3306/ check-gen run --parse-time
      # --parse-time: DATETIME reaches scripts as int nanoseconds, as when the service has a QAN agent";

const DEPLOY_EXAMPLES: &str = "\
Examples:
  check-gen deploy --pmm-url https://pmm.example.com --token-file ~/.pmm-token
  PMM_API_TOKEN=$(cat ~/.pmm-token) check-gen deploy --pmm-url https://pmm.example.com --only mysql_audit_failed_logins_24h

Each check is created (POST /v1/advisors/checks) or, if PMM has it, replaced
(PUT /v1/advisors/checks/custom_NAME); the token goes in an Authorization: Bearer header.";

const LIST_EXAMPLES: &str = "\
Examples:
  check-gen list
  check-gen --checks my-checks/ list";

/// Where the monitored server is: the same ways audit-ingest takes (a DSN, its TOML config file, a
/// MySQL option file), so one file serves both.
#[derive(Debug, Args)]
#[cfg_attr(not(feature = "run"), allow(dead_code))] // parsed, then refused: run is not built
struct ConnectArgs {
    /// mysql://user:password@host:port/ of the monitored server.
    #[arg(long, env = "CHECK_GEN_DSN", hide_env_values = true)]
    dsn: Option<String>,
    /// audit-ingest's TOML config file (its dsn, defaults_file, ssl_mode, ssl_ca are used).
    #[arg(long)]
    config: Option<PathBuf>,
    /// A MySQL option file whose [client] section gives user, password, host, port, socket.
    #[arg(long)]
    defaults_file: Option<PathBuf>,
}

#[cfg(feature = "run")]
impl ConnectArgs {
    /// The connection options: flags first, then the config file's.
    fn resolve(&self) -> Result<mysql_async::Opts> {
        use connect_config::{connect_options, ConfigFile, ConnectSettings};
        let file = match &self.config {
            Some(p) => ConfigFile::load(p)?,
            None => ConfigFile::default(),
        };
        let settings = ConnectSettings::from_flags_and_file(self.dsn.clone(), self.defaults_file.clone(), None, None, &file)?;
        if settings.dsn.is_none() && settings.defaults_file.is_none() {
            bail!("no server given: use --dsn, CHECK_GEN_DSN, --config or --defaults-file");
        }
        Ok(connect_options(&settings)?.0)
    }
}

/// A subcommand left out of this build: which feature brings it, and how to build with it.
#[cfg(not(all(feature = "test", feature = "run", feature = "deploy")))]
fn not_built(command: &str, feature: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "`check-gen {command}` is not in this build: it needs the `{feature}` feature (left out by default to keep \
         the build of render and validate quick). Rebuild with it:\n  \
         cargo run -p check-gen --features {feature} -- {command} ...\n\
         or install every subcommand: cargo install --path crates/check-gen --features full"
    )
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

struct Setup {
    renderer: Renderer,
    specs: Vec<CheckSpec>,
    sql: SqlOptions,
}

fn setup(c: &Common) -> Result<Setup> {
    let names = TableNames::new(&c.database, &c.table).context("--database/--table")?;
    let renderer = Renderer::new(c.templates.as_deref())?;
    let specs = spec::select(spec::load_specs(c.checks.as_deref())?, &c.only)?;
    Ok(Setup { renderer, specs, sql: SqlOptions { names, layout: c.table_layout } })
}

fn render(s: &Setup, args: &RenderArgs) -> Result<()> {
    let (target, profile) = check_gen::pmm_release::choose_target(args.target, args.pmm_version).map_err(anyhow::Error::msg)?;
    let files = s.renderer.target_for(target, &s.specs, &s.sql, &profile)?;
    match &args.out {
        None if target == Target::Bundled => bail!("the bundled target writes several files: give --out DIR"),
        None => {
            let mut out = std::io::stdout().lock();
            for (_, text) in files {
                out.write_all(text.as_bytes())?;
            }
            out.flush()?;
        }
        Some(dir) => {
            for (rel, text) in files {
                let path = dir.join(rel);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
                }
                std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
                eprintln!("wrote {}", path.display());
            }
        }
    }
    Ok(())
}

/// What `validate` found: exit 0, 1 (errors) or 3 (warnings only).
fn validate_files(files: &[PathBuf], pmm: Option<check_gen::pmm_release::PmmVersion>) -> Result<ExitCode> {
    let profile = check_gen::pmm_release::profile(pmm.unwrap_or(check_gen::pmm_release::NEWEST));
    let mut seen = validate::Seen::default();
    let mut problems = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        problems.extend(validate::validate_text_for(&f.display().to_string(), &text, &mut seen, profile));
    }
    if !seen.advisors.is_empty() {
        problems.extend(validate::cross_file(&seen));
    }
    for p in &problems {
        println!("{p}");
    }
    let errors = problems.iter().filter(|p| p.level == validate::Level::Error).count();
    let warnings = problems.len() - errors;
    if problems.is_empty() {
        eprintln!("{} file(s) OK for PMM {}", files.len(), profile.version);
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("{errors} error(s) (PMM {v} refuses to load), {warnings} warning(s) (loads, fails at run time)", v = profile.version);
    Ok(ExitCode::from(if errors > 0 { 1 } else { 3 }))
}

#[cfg(feature = "test")]
fn test_fixtures(s: &Setup) -> Result<bool> {
    let runs = check_gen::fixtures::run_all(&s.renderer, &s.specs)?;
    let failed = runs.iter().filter(|r| r.verdict.is_err()).count();
    let mut out = std::io::stdout().lock();
    for r in &runs {
        match &r.verdict {
            Ok(()) => writeln!(out, "ok   {} / {}", r.check, r.fixture)?,
            Err(why) => writeln!(out, "FAIL {} / {}: {why}", r.check, r.fixture)?,
        }
        for line in &r.printed {
            writeln!(out, "     print: {line}")?;
        }
    }
    writeln!(out, "{} passed, {failed} failed", runs.len() - failed)?;
    Ok(failed == 0)
}

#[cfg(feature = "run")]
fn run_checks(s: &Setup, connect: &ConnectArgs, format: Format, parse_time: bool) -> Result<()> {
    let opts = connect.resolve()?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let alerts = rt.block_on(async {
        let mut target = check_gen::runner::Target::connect_opts(opts).await?;
        let alerts = target
            .run_checks(&s.renderer, &s.specs, &s.sql, parse_time, |p| match p {
                Progress::Skipped { check, query_type } => {
                    eprintln!("{check}: skipped: it queries PMM's metrics ({}), which pmm-managed runs", query_type.pmm_name());
                }
                Progress::Printed { check, line } => {
                    eprintln!("{check}: print: {}", check_gen::untrusted::escape(line, check_gen::untrusted::MAX_VALUE_CHARS));
                }
            })
            .await?;
        target.disconnect().await?;
        anyhow::Ok(alerts)
    })?;
    // Alert values come from whoever attempted a login: escaped and bounded (check_gen::untrusted).
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => {
            let safe: Vec<Alert> = alerts.iter().map(check_gen::untrusted::sanitize_alert).collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&safe)?)?;
        }
        Format::Text => {
            for a in &alerts {
                for line in check_gen::untrusted::text_lines(a) {
                    writeln!(out, "{line}")?;
                }
            }
            eprintln!("{} alert(s) from {} check(s)", alerts.len(), s.specs.len());
        }
    }
    Ok(())
}

fn real_main() -> Result<ExitCode> {
    let cli = Cli::parse();
    let s = setup(&cli.common)?;
    match &cli.command {
        None => render(&s, &cli.render)?,
        Some(Command::Render(args)) => render(&s, args)?,
        Some(Command::Sql { name }) => {
            let spec = s.specs.iter().find(|c| &c.name == name).with_context(|| format!("no check named {name:?}"))?;
            match spec.query_type {
                check_gen::spec::QueryType::MysqlSelect => writeln!(std::io::stdout(), "{};", s.renderer.sql(spec, &s.sql)?)?,
                // MetricsQL, for PMM's Explore; pmm-managed fills {{.NodeName}} itself.
                check_gen::spec::QueryType::MetricsInstant => writeln!(std::io::stdout(), "{}", s.renderer.metrics_query(spec)?)?,
            }
        }
        Some(Command::List) => {
            let mut out = std::io::stdout().lock();
            for c in &s.specs {
                writeln!(out, "{:<40} {:<8} {}", c.name, c.severity, c.summary)?;
            }
        }
        Some(Command::Validate { files, pmm_version }) => return validate_files(files, *pmm_version),
        Some(Command::Alerts(args)) => return realtime_cmd::alerts(args, cli.common.templates.as_deref()).map(exit_ok),
        Some(Command::Dashboard(args)) => realtime_cmd::dashboard(args, cli.common.templates.as_deref())?,
        #[cfg(feature = "test")]
        Some(Command::Test) => return test_fixtures(&s).map(exit_ok),
        #[cfg(not(feature = "test"))]
        Some(Command::Test) => return Err(not_built("test", "test")),
        #[cfg(feature = "run")]
        Some(Command::Run { connect, format, parse_time }) => run_checks(&s, connect, *format, *parse_time)?,
        #[cfg(not(feature = "run"))]
        Some(Command::Run { .. }) => return Err(not_built("run", "run")),
        #[cfg(feature = "deploy")]
        Some(Command::Deploy { pmm_url, token_file, category }) => {
            use check_gen::deploy;
            let token = deploy::read_token(token_file.as_deref()).map_err(anyhow::Error::msg)?;
            let checks = s.specs.iter().map(|spec| s.renderer.check(spec, &s.sql, FileVersion::V2).map(|c| deploy::api_check(&c, category))).collect::<Result<Vec<_>, _>>()?;
            for outcome in deploy::Client::new(pmm_url, &token).deploy(&checks)? {
                match outcome {
                    deploy::Outcome::Created(n) => println!("created {n}"),
                    deploy::Outcome::Updated(n) => println!("updated {n}"),
                }
            }
        }
        #[cfg(not(feature = "deploy"))]
        Some(Command::Deploy { .. }) => return Err(not_built("deploy", "deploy")),
    }
    Ok(ExitCode::SUCCESS)
}

fn exit_ok(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            // A closed pipe (check-gen | head) is not an error.
            if e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)) {
                return ExitCode::SUCCESS;
            }
            eprintln!("check-gen: {e:#}");
            ExitCode::from(2)
        }
    }
}
