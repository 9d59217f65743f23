//! The filesystem (DESIGN decision 1): probe with `blkid -p`, decide with the pure
//! [`plan_filesystem`] (format / use, with check and grow / data loss / foreign), then act.
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

/// What the gather step found about the device and the volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsFacts {
    pub probe: Probe,
    /// The volume carries `steadfast:initialized`.
    pub initialized: bool,
    /// The label our filesystem has (`steadfast-N`).
    pub label: String,
    /// The device is already mounted at the data dir (a re-run of prepare).
    pub mounted: bool,
    /// Device and filesystem sizes, read only for our own filesystem.
    pub sizes: Option<Sizes>,
    /// How this machine can grow a filesystem.
    pub grow: GrowAbility,
}

/// How a filesystem can be grown here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrowAbility {
    /// Online, mounted (`resize2fs` needs CAP_SYS_RESOURCE): the way production grows.
    Online,
    /// Offline, before mounting: only when explicitly allowed (test machines without the
    /// capability).
    Offline,
    /// Neither: an enlarged volume keeps its smaller filesystem (etcd runs fine on it).
    Unable,
}

/// What to do about an enlarged volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Growth {
    /// `resize2fs` on the mounted filesystem, after mounting.
    Online(Sizes),
    /// `e2fsck -f` + `resize2fs` before mounting.
    Offline(Sizes),
    /// Enlarged, but this machine cannot grow it now: said loudly, nothing touched.
    Cannot(Sizes),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    pub device_bytes: u64,
    pub fs_bytes: u64,
}

impl Sizes {
    /// The volume was enlarged: more than 1 MiB beyond the filesystem.
    pub fn enlarged(&self) -> bool {
        self.device_bytes > self.fs_bytes + (1 << 20)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsDecision {
    /// Blank and never initialized: `mkfs.ext4 -L <label>`, then tag the volume initialized.
    Format,
    /// Our ext4. `check`: `e2fsck -p` first (not when it is mounted already). `grow`: the volume
    /// was enlarged, grow the filesystem. `tag`: the initialized tag is missing (a crash
    /// between mkfs and tagging).
    Use {
        tag: bool,
        check: bool,
        grow: Option<Growth>,
    },
    /// Blank but tagged initialized: data loss. Stop; etcd must not start.
    DataLoss,
    /// Not ours: stop and touch nothing.
    Foreign { found: String },
}

/// Whether the probe shows our filesystem (ext4 labelled `label`).
pub fn is_ours(probe: &Probe, label: &str) -> bool {
    matches!(probe, Probe::Filesystem { fstype, label: Some(l) } if fstype == "ext4" && l == label)
}

pub fn plan_filesystem(f: &FsFacts) -> FsDecision {
    match &f.probe {
        Probe::Blank if f.initialized => FsDecision::DataLoss,
        Probe::Blank => FsDecision::Format,
        p if is_ours(p, &f.label) => FsDecision::Use {
            tag: !f.initialized,
            check: !f.mounted,
            grow: f.sizes.filter(Sizes::enlarged).map(|s: Sizes| match f.grow {
                GrowAbility::Online => Growth::Online(s),
                GrowAbility::Offline if !f.mounted => Growth::Offline(s),
                GrowAbility::Offline | GrowAbility::Unable => Growth::Cannot(s),
            }),
        },
        Probe::Filesystem { fstype, label } => FsDecision::Foreign {
            found: match label {
                Some(l) => format!("{fstype} labelled {l:?}"),
                None => format!("{fstype} without a label"),
            },
        },
        Probe::PartitionTable { pttype } => FsDecision::Foreign {
            found: format!("a {pttype} partition table"),
        },
        Probe::Unrecognized => FsDecision::Foreign {
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

    fn facts(probe: Probe, initialized: bool) -> FsFacts {
        FsFacts {
            probe,
            initialized,
            label: "steadfast-3".into(),
            mounted: false,
            sizes: None,
            grow: GrowAbility::Online,
        }
    }

    #[test]
    fn table() {
        use FsDecision::*;
        let ours = || fs("ext4", Some("steadfast-3"));
        let same = Sizes {
            device_bytes: 64 << 20,
            fs_bytes: 64 << 20,
        };
        let bigger = Sizes {
            device_bytes: 96 << 20,
            fs_bytes: 64 << 20,
        };
        let cases: Vec<(&str, FsFacts, FsDecision)> = vec![
            ("blank, never initialized: format", facts(Probe::Blank, false), Format),
            ("blank but initialized: data loss", facts(Probe::Blank, true), DataLoss),
            (
                "ours, tagged: check",
                facts(ours(), true),
                Use {
                    tag: false,
                    check: true,
                    grow: None,
                },
            ),
            (
                "ours, tag lost in a crash: check and tag",
                facts(ours(), false),
                Use {
                    tag: true,
                    check: true,
                    grow: None,
                },
            ),
            (
                "ours, same size: no grow",
                FsFacts {
                    sizes: Some(same),
                    ..facts(ours(), true)
                },
                Use {
                    tag: false,
                    check: true,
                    grow: None,
                },
            ),
            (
                "ours, volume enlarged: grow online after mounting",
                FsFacts {
                    sizes: Some(bigger),
                    ..facts(ours(), true)
                },
                Use {
                    tag: false,
                    check: true,
                    grow: Some(Growth::Online(bigger)),
                },
            ),
            (
                "ours, enlarged, no CAP_SYS_RESOURCE but offline growth allowed: grow before mounting",
                FsFacts {
                    sizes: Some(bigger),
                    grow: GrowAbility::Offline,
                    ..facts(ours(), true)
                },
                Use {
                    tag: false,
                    check: true,
                    grow: Some(Growth::Offline(bigger)),
                },
            ),
            (
                "ours, enlarged, cannot grow here: left as it is, said loudly",
                FsFacts {
                    sizes: Some(bigger),
                    grow: GrowAbility::Unable,
                    ..facts(ours(), true)
                },
                Use {
                    tag: false,
                    check: true,
                    grow: Some(Growth::Cannot(bigger)),
                },
            ),
            (
                "ours, already mounted (prepare again): no check; online growth still possible",
                FsFacts {
                    mounted: true,
                    sizes: Some(bigger),
                    ..facts(ours(), true)
                },
                Use {
                    tag: false,
                    check: false,
                    grow: Some(Growth::Online(bigger)),
                },
            ),
            (
                "ours, already mounted, only offline growth allowed: never unmounted to grow",
                FsFacts {
                    mounted: true,
                    sizes: Some(bigger),
                    grow: GrowAbility::Offline,
                    ..facts(ours(), true)
                },
                Use {
                    tag: false,
                    check: false,
                    grow: Some(Growth::Cannot(bigger)),
                },
            ),
            (
                "ext4 of another peer: refuse",
                facts(fs("ext4", Some("steadfast-4")), true),
                Foreign {
                    found: "ext4 labelled \"steadfast-4\"".into(),
                },
            ),
            (
                "ext4 without label: refuse",
                facts(fs("ext4", None), false),
                Foreign {
                    found: "ext4 without a label".into(),
                },
            ),
            (
                "xfs: refuse",
                facts(fs("xfs", Some("steadfast-3")), false),
                Foreign {
                    found: "xfs labelled \"steadfast-3\"".into(),
                },
            ),
            (
                "swap: refuse",
                facts(fs("swap", None), false),
                Foreign {
                    found: "swap without a label".into(),
                },
            ),
            (
                "partition table: refuse",
                facts(Probe::PartitionTable { pttype: "gpt".into() }, false),
                Foreign {
                    found: "a gpt partition table".into(),
                },
            ),
            (
                "unknown non-zero data, untagged: refuse",
                facts(Probe::Unrecognized, false),
                Foreign {
                    found: "data without a recognizable signature (not zeros)".into(),
                },
            ),
        ];
        for (name, f, want) in cases {
            assert_eq!(plan_filesystem(&f), want, "{name}");
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
