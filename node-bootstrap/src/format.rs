//! Safe format (DESIGN decision 1): probe with `blkid -p`, decide (pure), then act.
//! A volume that has ever held data is never formatted.

/// What `blkid -p` found on the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// No signature at all.
    Blank,
    /// A filesystem (or other superblock) of `fstype`, with its label if any.
    Filesystem { fstype: String, label: Option<String> },
    /// A partition table (`PTTYPE`): someone else's disk layout.
    PartitionTable { pttype: String },
    /// No signature blkid knows, but not zeros either: data of some kind. Never blank.
    Unrecognized,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatDecision {
    /// Blank and never initialized: `mkfs.ext4 -L <label>`, then tag the volume initialized.
    Format,
    /// Our ext4: `e2fsck -p`, grow if enlarged, mount. `tag` when the initialized tag is
    /// missing (a crash between mkfs and tagging).
    UseExisting { tag: bool },
    /// Blank but tagged initialized: data loss. Stop; etcd must not start.
    DataLoss,
    /// Not ours: stop and touch nothing.
    Foreign { found: String },
}

pub fn plan_format(probe: &Probe, tagged_initialized: bool, expected_label: &str) -> FormatDecision {
    match probe {
        Probe::Blank if tagged_initialized => FormatDecision::DataLoss,
        Probe::Blank => FormatDecision::Format,
        Probe::Filesystem { fstype, label } if fstype == "ext4" && label.as_deref() == Some(expected_label) => {
            FormatDecision::UseExisting {
                tag: !tagged_initialized,
            }
        }
        Probe::Filesystem { fstype, label } => FormatDecision::Foreign {
            found: match label {
                Some(l) => format!("{fstype} labelled {l:?}"),
                None => format!("{fstype} without a label"),
            },
        },
        Probe::PartitionTable { pttype } => FormatDecision::Foreign {
            found: format!("a {pttype} partition table"),
        },
        Probe::Unrecognized => FormatDecision::Foreign {
            found: "data without a recognizable signature (not zeros)".into(),
        },
    }
}

/// Parses `blkid -p -o export` output. Exit status 2 (nothing found) is `Blank` and is handled
/// by the caller before this.
pub fn parse_blkid_export(out: &str) -> Probe {
    let mut fstype = None;
    let mut label = None;
    let mut pttype = None;
    for line in out.lines() {
        if let Some((k, v)) = line.split_once('=') {
            match k.trim() {
                "TYPE" => fstype = Some(v.trim().to_string()),
                "LABEL" => label = Some(v.trim().to_string()),
                "PTTYPE" => pttype = Some(v.trim().to_string()),
                _ => {}
            }
        }
    }
    match (fstype, pttype) {
        (Some(fstype), _) => Probe::Filesystem { fstype, label },
        (None, Some(pttype)) => Probe::PartitionTable { pttype },
        (None, None) => Probe::Blank,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fs(t: &str, l: Option<&str>) -> Probe {
        Probe::Filesystem {
            fstype: t.into(),
            label: l.map(str::to_string),
        }
    }

    #[test]
    fn table() {
        let cases: Vec<(&str, Probe, bool, FormatDecision)> = vec![
            (
                "blank, never initialized: format",
                Probe::Blank,
                false,
                FormatDecision::Format,
            ),
            (
                "blank but initialized: data loss",
                Probe::Blank,
                true,
                FormatDecision::DataLoss,
            ),
            (
                "ours, tagged: use",
                fs("ext4", Some("steadfast-3")),
                true,
                FormatDecision::UseExisting { tag: false },
            ),
            (
                "ours, tag lost in a crash: use and tag",
                fs("ext4", Some("steadfast-3")),
                false,
                FormatDecision::UseExisting { tag: true },
            ),
            (
                "ext4 of another peer: refuse",
                fs("ext4", Some("steadfast-4")),
                true,
                FormatDecision::Foreign {
                    found: "ext4 labelled \"steadfast-4\"".into(),
                },
            ),
            (
                "ext4 without label: refuse",
                fs("ext4", None),
                false,
                FormatDecision::Foreign {
                    found: "ext4 without a label".into(),
                },
            ),
            (
                "xfs: refuse",
                fs("xfs", Some("steadfast-3")),
                false,
                FormatDecision::Foreign {
                    found: "xfs labelled \"steadfast-3\"".into(),
                },
            ),
            (
                "swap: refuse",
                fs("swap", None),
                false,
                FormatDecision::Foreign {
                    found: "swap without a label".into(),
                },
            ),
            (
                "partition table: refuse",
                Probe::PartitionTable { pttype: "gpt".into() },
                false,
                FormatDecision::Foreign {
                    found: "a gpt partition table".into(),
                },
            ),
            (
                "unknown non-zero data, untagged: refuse",
                Probe::Unrecognized,
                false,
                FormatDecision::Foreign {
                    found: "data without a recognizable signature (not zeros)".into(),
                },
            ),
        ];
        for (name, probe, tagged, want) in cases {
            assert_eq!(plan_format(&probe, tagged, "steadfast-3"), want, "{name}");
        }
    }

    #[test]
    fn blkid_export() {
        assert_eq!(
            parse_blkid_export(
                "DEVNAME=/dev/loop0\nLABEL=steadfast-1\nUUID=abc\nVERSION=1.0\nTYPE=ext4\nUSAGE=filesystem\n"
            ),
            fs("ext4", Some("steadfast-1"))
        );
        assert_eq!(
            parse_blkid_export("DEVNAME=/dev/loop0\nPTTYPE=dos\n"),
            Probe::PartitionTable { pttype: "dos".into() }
        );
        assert_eq!(parse_blkid_export("TYPE=xfs\n"), fs("xfs", None));
        assert_eq!(parse_blkid_export(""), Probe::Blank);
    }
}
