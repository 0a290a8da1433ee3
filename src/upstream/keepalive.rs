//! When an upstream connection is pinged: only after a whole interval without a call on it.
//! A call in flight, or one that just ran, already shows whether the connection lives (its
//! data arrives, or its failure does); pinging busy connections only adds frames and wakes.

/// The idle-ping decision for one connection, taken once per keepalive interval.
#[derive(Debug, Default)]
pub struct IdlePing {
    /// Calls opened on the connection as of the previous tick, and open at it.
    opened_at_last_tick: u64,
    open_at_last_tick: usize,
}

impl IdlePing {
    /// Whether to ping now, given the calls open now and opened since the connection began.
    pub fn due(&mut self, open: usize, opened: u64) -> bool {
        let idle = open == 0 && self.open_at_last_tick == 0 && opened == self.opened_at_last_tick;
        self.opened_at_last_tick = opened;
        self.open_at_last_tick = open;
        idle
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pings_only_after_an_interval_without_calls() {
        let mut policy = IdlePing::default();
        // (calls open now, calls opened so far, ping?)
        let ticks = [
            (0, 0, true),   // a connection nobody has used since it opened
            (3, 10, false), // busy
            (0, 10, false), // just went quiet: calls ran during this interval
            (0, 10, true),  // a whole interval without a call
            (0, 10, true),
            (1, 11, false),
            (1, 11, false), // a long call in flight: its own traffic tells
            (0, 11, false), // the long call ended during this interval
            (0, 11, true),
        ];
        for (i, (open, opened, ping)) in ticks.into_iter().enumerate() {
            assert_eq!(policy.due(open, opened), ping, "tick {i}");
        }
    }
}
