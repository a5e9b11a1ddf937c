//! The SQL shell's meta-commands (`.help`, `.tables`, `.schema NAME`, `.timer`, `.mode`,
//! `.maxrows`, `.quit`, and psql's `\d`, `\dt`, `\q`, `\?`), in the interactive shell and in
//! scripts alike, as the DuckDB shell and datafusion-cli take them.
//!
//! A meta-command is a line that starts with `.` and a letter, or with `\`, even in the middle
//! of a statement being typed: a continuation prompt does not swallow `.quit`.

/// A piece of a script: SQL (one or more statements) or one meta-command line.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunk {
    Sql(String),
    Meta(String),
}

/// Whether `line` is a meta-command.
pub fn is_meta(line: &str) -> bool {
    let line = line.trim_start();
    let mut chars = line.chars();
    match chars.next() {
        Some('\\') => true,
        Some('.') => chars.next().is_some_and(|c| c.is_ascii_alphabetic()),
        _ => false,
    }
}

/// `script` split into SQL and meta-command lines, in order (blank SQL left out).
pub fn chunks(script: &str) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    let mut sql = String::new();
    for line in script.split_inclusive('\n') {
        if is_meta(line) {
            if !sql.trim().is_empty() {
                chunks.push(Chunk::Sql(std::mem::take(&mut sql)));
            }
            sql.clear();
            chunks.push(Chunk::Meta(line.trim().to_owned()));
        } else {
            sql.push_str(line);
        }
    }
    if !sql.trim().is_empty() {
        chunks.push(Chunk::Sql(sql));
    }
    chunks
}

/// A meta-command, parsed.
#[derive(Debug, PartialEq, Eq)]
pub enum Meta {
    Help,
    Tables,
    Schema(String),
    Timer(bool),
    Mode(String),
    MaxRows(usize),
    Quit,
}

pub const HELP: &str = "\
.help, \\?            this list
.tables, \\d, \\dt     the tables and views queries can name
.schema NAME, \\d NAME the columns of NAME and their types
.timer on|off        show how long each query took (on)
.mode MODE           table, line, csv or json output
.maxrows N           rows a table on a terminal shows at most (0: all)
.quit, .exit, \\q     leave (Ctrl-D does too)
Statements end with ';'. Read-only unless started with --allow-write.
";

/// Parses a meta-command line, or says what is wrong with it.
pub fn parse(line: &str) -> Result<Meta, String> {
    let mut words = line.split_whitespace();
    let command = words.next().unwrap_or_default();
    let argument = words.next();
    if let Some(extra) = words.next() {
        return Err(format!(
            "{command}: unexpected '{extra}'; .help lists the commands"
        ));
    }
    let name = |argument: Option<&str>| -> Result<String, String> {
        let name = argument.ok_or_else(|| format!("{command} needs a table name"))?;
        if name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
        {
            Ok(name.to_owned())
        } else {
            Err(format!("{command}: '{name}' is not a table name"))
        }
    };
    match (command, argument) {
        (".help" | "\\?" | "\\h", None) => Ok(Meta::Help),
        (".tables" | "\\d" | "\\dt", None) => Ok(Meta::Tables),
        (".schema" | "\\d", Some(_)) => name(argument).map(Meta::Schema),
        (".timer", Some("on")) => Ok(Meta::Timer(true)),
        (".timer", Some("off")) => Ok(Meta::Timer(false)),
        (".mode", Some(mode @ ("table" | "line" | "csv" | "json"))) => {
            Ok(Meta::Mode(mode.to_owned()))
        }
        (".maxrows", Some(rows)) => rows
            .parse()
            .map(Meta::MaxRows)
            .map_err(|_| format!(".maxrows needs a number of rows, not '{rows}'")),
        (".quit" | ".exit" | "\\q", None) => Ok(Meta::Quit),
        (".timer", _) => Err(".timer takes on or off".to_owned()),
        (".mode", _) => Err(".mode takes table, line, csv or json".to_owned()),
        (".schema", None) => Err(".schema needs a table name".to_owned()),
        _ => Err(format!(
            "unknown command {command}; .help lists the commands"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_commands_are_lines_of_their_own_even_inside_a_statement() {
        let script = "SELECT 1;\n.timer off\nSELECT\n.quit\n  2;\nSELECT .5;\n\\d contacts\n";
        assert_eq!(
            chunks(script),
            vec![
                Chunk::Sql("SELECT 1;\n".into()),
                Chunk::Meta(".timer off".into()),
                Chunk::Sql("SELECT\n".into()),
                Chunk::Meta(".quit".into()),
                Chunk::Sql("  2;\nSELECT .5;\n".into()),
                Chunk::Meta("\\d contacts".into()),
            ]
        );
    }

    #[test]
    fn meta_commands_parse_or_say_what_is_wrong() {
        assert_eq!(parse(".tables"), Ok(Meta::Tables));
        assert_eq!(parse("\\d contacts"), Ok(Meta::Schema("contacts".into())));
        assert_eq!(parse(".mode csv"), Ok(Meta::Mode("csv".into())));
        assert_eq!(parse(".maxrows 5"), Ok(Meta::MaxRows(5)));
        assert!(parse(".schema x; DROP").is_err());
        assert!(parse(".schema a;b").is_err());
        assert!(parse(".mode xml").unwrap_err().contains("table, line"));
        assert!(parse(".frobnicate").unwrap_err().contains(".help"));
    }
}
