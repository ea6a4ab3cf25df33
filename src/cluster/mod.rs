//! One cache across several pods (`--cluster-size N`): which pod owns each
//! slot, where every pod's workers listen, and the links that forward a
//! command to the pod that owns its keys.
//!
//! Membership is configuration, not a protocol: every pod is started with
//! the same `--cluster-size` and `--cluster-peers` and its own
//! `--cluster-index` (a Kubernetes StatefulSet gives exactly that), and
//! every pod computes the same map from them
//! ([`corekv_router::cluster::layout`]). Slot ownership never changes while
//! the pods run; a different size means restarting the pods, which start
//! empty (a cache refills).
//!
//! What a pod does with a key another pod owns:
//!
//! * on a core port (where cluster-aware clients send each key to its
//!   owner): `-MOVED slot host:port`, Redis Cluster's redirection;
//! * on the shared port and the RESP port (plain clients behind one
//!   Service): forwards the command to the owning worker of the owning pod
//!   over a [`peer`] link and relays the reply.
//!
//! A command whose keys live on different pods is refused with Redis's
//! `-CROSSSLOT`; keys of one pod stay atomic across that pod's workers.

pub mod peer;

use corekv_router::{cluster, PartitionInfo, Slot, Topology};

/// One pod's address: where its worker 0 listens (worker `w` at `port + w`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodAddr {
    pub host: String,
    pub port: u16,
}

/// The cluster's shape, shared (read-only) by every worker.
#[derive(Debug)]
pub struct ClusterMap {
    /// This pod's index.
    pub index: usize,
    /// Workers per pod.
    pub workers: usize,
    /// Every pod's workers as one topology: partition `pod * workers + w`,
    /// with its advertised core port.
    pub global: Topology,
    pub pods: Vec<PodAddr>,
}

/// Where a command's keys live, as far as this pod is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// No keys, or every key on this pod.
    Here,
    /// Every key on pod `pod`; `slot` is the first key's (for `MOVED`),
    /// `partition` its owner in the global topology.
    There {
        pod: usize,
        slot: Slot,
        partition: usize,
    },
    /// Keys on different pods.
    Split,
}

impl ClusterMap {
    /// The map for `size` pods of `workers` workers each, this one being
    /// `index`, from `--cluster-peers`; `default_port` is the port of an
    /// entry that names none. `None` for a single pod.
    pub fn new(
        size: usize,
        index: Option<usize>,
        peers: Option<&str>,
        workers: usize,
        default_port: u16,
    ) -> Result<Option<Self>, String> {
        if size <= 1 {
            return Ok(None);
        }
        let index = match index {
            Some(i) => i,
            None => index_from_hostname().ok_or_else(|| {
                "--cluster-index is not set and the host name does not end in -<number>".to_string()
            })?,
        };
        if index >= size {
            return Err(format!(
                "--cluster-index {index} is not below --cluster-size {size}"
            ));
        }
        let peers = peers.ok_or_else(|| {
            format!("--cluster-size {size} needs --cluster-peers (every pod's address)")
        })?;
        let pods = parse_peers(peers, size, default_port)?;
        for pod in &pods {
            if usize::from(pod.port) + workers > 65536 {
                return Err(format!(
                    "peer {}:{} with {workers} workers passes port 65535",
                    pod.host, pod.port
                ));
            }
        }
        let global = cluster::layout(size, workers).map_err(|e| e.to_string())?;
        let ports: Vec<u16> = (0..size * workers)
            .map(|p| pods[p / workers].port + (p % workers) as u16)
            .collect();
        let global = global.with_ports(&ports).map_err(|e| e.to_string())?;
        Ok(Some(Self {
            index,
            workers,
            global,
            pods,
        }))
    }

    pub fn size(&self) -> usize {
        self.pods.len()
    }

    /// The pod owning `slot`.
    #[inline]
    pub fn pod_of_slot(&self, slot: Slot) -> usize {
        self.global.partition_of_slot(slot) / self.workers
    }

    /// This pod's workers as a topology of `workers` partitions, worker `w`
    /// owning its share of this pod's slots. Slots of other pods are mapped
    /// to the worker with the same index (so a lookup never fails), but
    /// connections check [`placement`](Self::placement) first: no key of
    /// another pod reaches a partition.
    pub fn local_topology(&self) -> Topology {
        let partitions = (0..self.workers)
            .map(|w| PartitionInfo {
                id: w,
                slots: (0..self.size())
                    .flat_map(|pod| {
                        self.global.partitions()[pod * self.workers + w]
                            .slots
                            .iter()
                            .copied()
                    })
                    .collect(),
                port: None,
            })
            .collect();
        Topology::from_partitions(partitions).expect("the global topology covers every slot")
    }

    /// The slot ranges this pod's worker `w` owns.
    pub fn own_ranges(&self, w: usize) -> &[corekv_router::SlotRange] {
        &self.global.partitions()[self.index * self.workers + w].slots
    }

    /// Where the keys `keys` live.
    pub fn placement<'a>(&self, keys: impl IntoIterator<Item = &'a [u8]>) -> Placement {
        let mut found = Placement::Here;
        let mut first_pod = None;
        for key in keys {
            let slot = corekv_router::hash_slot(key);
            let partition = self.global.partition_of_slot(slot);
            let pod = partition / self.workers;
            match first_pod {
                None => {
                    first_pod = Some(pod);
                    if pod != self.index {
                        found = Placement::There {
                            pod,
                            slot,
                            partition,
                        };
                    }
                }
                Some(p) if p != pod => return Placement::Split,
                Some(_) => {}
            }
        }
        found
    }

    /// The advertised address of global partition `partition`.
    pub fn addr_of(&self, partition: usize) -> (&str, u16) {
        let pod = &self.pods[partition / self.workers];
        let port = self.global.partitions()[partition].port.unwrap_or(0);
        (&pod.host, port)
    }
}

/// `--cluster-peers`: `size` addresses, or one template with `{i}`.
pub fn parse_peers(list: &str, size: usize, default_port: u16) -> Result<Vec<PodAddr>, String> {
    let entries: Vec<&str> = list
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .collect();
    let expanded: Vec<String> = match entries[..] {
        [one] if one.contains("{i}") => (0..size)
            .map(|i| one.replace("{i}", &i.to_string()))
            .collect(),
        _ => entries.iter().map(|s| s.to_string()).collect(),
    };
    if expanded.len() != size {
        return Err(format!(
            "--cluster-peers lists {} addresses for --cluster-size {size}",
            expanded.len()
        ));
    }
    expanded
        .iter()
        .map(|e| parse_addr(e, default_port))
        .collect()
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn parse_addr(entry: &str, default_port: u16) -> Result<PodAddr, String> {
    let bad = || format!("--cluster-peers: bad address {entry:?} (host or host:port)");
    let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        match after.strip_prefix(':') {
            Some(p) => (host, Some(p)),
            None if after.is_empty() => (host, None),
            None => return Err(bad()),
        }
    } else {
        match entry.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, Some(p)),
            Some(_) => return Err(bad()),
            None => (entry, None),
        }
    };
    if host.is_empty() {
        return Err(bad());
    }
    let port = match port {
        Some(p) => p.parse::<u16>().ok().filter(|&p| p != 0).ok_or_else(bad)?,
        None => default_port,
    };
    Ok(PodAddr {
        host: host.to_string(),
        port,
    })
}

/// The number that ends the host name (`corekv-2` → 2).
fn index_from_hostname() -> Option<usize> {
    let name = std::env::var("HOSTNAME").ok().or_else(hostname)?;
    let short = name.split('.').next()?;
    let (_, n) = short.rsplit_once('-')?;
    n.parse().ok()
}

fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at
    // most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8(buf[..end].to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(index: usize) -> ClusterMap {
        ClusterMap::new(3, Some(index), Some("a:7000,b:7100,[::1]:7200"), 2, 9889)
            .unwrap()
            .unwrap()
    }

    #[test]
    fn one_pod_is_no_cluster() {
        assert!(ClusterMap::new(1, None, None, 4, 9889).unwrap().is_none());
    }

    #[test]
    fn peers_parse_and_expand() {
        let pods = parse_peers("corekv-{i}.svc", 3, 9889).unwrap();
        assert_eq!(pods[2].host, "corekv-2.svc");
        assert_eq!(pods[2].port, 9889);
        let pods = parse_peers("h1:1 h2,[fe80::1]:3", 3, 9).unwrap();
        assert_eq!(
            pods,
            vec![
                PodAddr {
                    host: "h1".into(),
                    port: 1
                },
                PodAddr {
                    host: "h2".into(),
                    port: 9
                },
                PodAddr {
                    host: "fe80::1".into(),
                    port: 3
                },
            ]
        );
        assert!(parse_peers("a,b", 3, 1).is_err());
        assert!(parse_peers("a:0,b,c", 3, 1).is_err());
        assert!(parse_peers("a:x,b,c", 3, 1).is_err());
        assert!(parse_peers("::1,b,c", 3, 1).is_err());
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(ClusterMap::new(3, Some(3), Some("a,b,c"), 2, 1).is_err());
        assert!(ClusterMap::new(3, Some(0), None, 2, 1).is_err());
        assert!(ClusterMap::new(2, Some(0), Some("a:65535,b"), 2, 1).is_err());
    }

    #[test]
    fn placement_and_addresses() {
        let m = map(1);
        let slot_of = |k: &[u8]| corekv_router::hash_slot(k);
        // Find keys on each pod.
        let key_on = |pod: usize| {
            (0..)
                .map(|i| format!("k{i}").into_bytes())
                .find(|k| m.pod_of_slot(slot_of(k)) == pod)
                .unwrap()
        };
        let (k0, k1, k2) = (key_on(0), key_on(1), key_on(2));
        assert_eq!(m.placement([&k1[..]]), Placement::Here);
        assert_eq!(m.placement(std::iter::empty()), Placement::Here);
        let Placement::There {
            pod,
            slot,
            partition,
        } = m.placement([&k2[..]])
        else {
            panic!()
        };
        assert_eq!((pod, slot), (2, slot_of(&k2)));
        let (host, port) = m.addr_of(partition);
        assert_eq!(host, "::1");
        assert!(port == 7200 || port == 7201);
        assert_eq!(m.placement([&k0[..], &k2[..]]), Placement::Split);
        assert_eq!(m.placement([&k1[..], &k2[..]]), Placement::Split);
        // The local topology covers every slot with this pod's 2 workers.
        let local = m.local_topology();
        assert_eq!(local.len(), 2);
        for w in 0..2 {
            for r in m.own_ranges(w) {
                assert_eq!(local.partition_of_slot(r.start), w);
            }
        }
    }
}
