//! A reply nested deeper than hotcache's old 512 levels (a Lua table Redis
//! returns as is) is forwarded byte for byte, and never fails the shared
//! connection it came on.

use super::stat;
use crate::common::{Hotcache, RedisServer};

const DEEP_1000: &str = "local t = {} local c = t for i=1,999 do c[1] = {} c = c[1] end return t";
/// Redis's own suite ("Script return recursive object"): a table that holds
/// itself, returned until Lua's stack runs out (~8000 levels, an error inside).
const RECURSIVE: &str = "local a = {}; local b = {a}; a[1] = b; return a";

#[test]
fn deep_script_replies_pass_through_and_keep_the_connection() {
    let redis = RedisServer::start();
    let hc = Hotcache::in_front_of(&redis, 1, &[]);
    let mut direct = redis.client();
    let mut c = hc.client();
    let mut bystander = hc.client();
    assert_eq!(c.cmd(&["SET", "k", "v"]), b"+OK\r\n");
    for script in [DEEP_1000, RECURSIVE] {
        let want = direct.cmd(&["EVAL", script, "0"]);
        assert!(want.len() >= 4000, "{}", want.len());
        for _ in 0..3 {
            assert_eq!(c.cmd(&["EVAL", script, "0"]), want);
            // Its neighbour on the shared connection goes on as before.
            assert_eq!(bystander.cmd(&["GET", "k"]), b"$1\r\nv\r\n");
        }
    }
    // In RESP3 too.
    let mut r3 = hc.client();
    assert!(r3.cmd(&["HELLO", "3"]).starts_with(b"%"));
    let mut d3 = redis.client();
    assert!(d3.cmd(&["HELLO", "3"]).starts_with(b"%"));
    assert_eq!(r3.cmd(&["EVAL", RECURSIVE, "0"]), d3.cmd(&["EVAL", RECURSIVE, "0"]));
    assert_eq!(stat(&mut c, "upstream_connection_errors"), 0);
    assert_eq!(stat(&mut c, "upstream_request_errors"), 0);
}
