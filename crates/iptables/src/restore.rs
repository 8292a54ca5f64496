//! Rules as data, and their `iptables-restore` text.

use crate::config::Family;

/// The chain-name prefix of every chain weft (like istio-iptables) creates.
pub const CHAIN_PREFIX: &str = "ISTIO_";

/// The tables weft writes to, in the order they are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Table {
    Nat,
    Raw,
}

impl Table {
    pub fn name(self) -> &'static str {
        match self {
            Table::Nat => "nat",
            Table::Raw => "raw",
        }
    }
}

/// One appended rule: `-A <chain> <spec>` in `table`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub table: Table,
    pub chain: String,
    pub spec: String,
}

impl Rule {
    /// The chain this rule jumps to (`-j X`), if any.
    pub fn target(&self) -> Option<&str> {
        jump_target(&self.spec)
    }
}

/// The `-j` target of a rule specification.
pub fn jump_target(spec: &str) -> Option<&str> {
    let mut words = spec.split_whitespace();
    while let Some(w) = words.next() {
        if w == "-j" || w == "--jump" {
            return words.next();
        }
    }
    None
}

/// The rules of one address family, in the order they are appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSet {
    pub family: Family,
    pub rules: Vec<Rule>,
}

impl RuleSet {
    /// The tables that have rules, in writing order.
    pub fn tables(&self) -> Vec<Table> {
        let mut tables: Vec<Table> = self.rules.iter().map(|r| r.table).collect();
        tables.sort();
        tables.dedup();
        tables
    }

    /// The chains weft creates in `table`, in order of first use (as a chain or as a target).
    pub fn chains(&self, table: Table) -> Vec<&str> {
        let mut chains: Vec<&str> = Vec::new();
        for rule in self.rules.iter().filter(|r| r.table == table) {
            for name in std::iter::once(rule.chain.as_str()).chain(rule.target()) {
                if name.starts_with(CHAIN_PREFIX) && !chains.contains(&name) {
                    chains.push(name);
                }
            }
        }
        chains
    }

    /// `iptables-restore --noflush` input: each table declares its chains, appends its rules
    /// in order and commits.
    pub fn to_restore(&self) -> String {
        let mut out = String::new();
        for table in self.tables() {
            out.push_str(&format!("*{}\n", table.name()));
            for chain in self.chains(table) {
                out.push_str(&format!(":{chain} - [0:0]\n"));
            }
            for rule in self.rules.iter().filter(|r| r.table == table) {
                out.push_str(&format!("-A {} {}\n", rule.chain, rule.spec));
            }
            out.push_str("COMMIT\n");
        }
        out
    }
}
