use super::*;
use opentelemetry::StringValue;

/// (header, expected (key, decoded value, properties) list, expected header out, reason)
#[rustfmt::skip]
#[allow(clippy::type_complexity)]
fn data() -> Vec<(String, Vec<(&'static str, &'static str, &'static str)>, &'static str, &'static str)> {
    vec![
        ("user=alice;ttl=30,tier=gold".into(), vec![("user", "alice", "ttl=30"), ("tier", "gold", "")], "user=alice;ttl=30,tier=gold", "row 43: property stays attached to its entry"),
        ("k=hello%20world%2C%3B".into(), vec![("k", "hello world,;", "")], "k=hello%20world%2C%3B", "row 44: percent-decoded, re-encoded on output"),
        ("a = 1 ; p ; q = 2 , b=2".into(), vec![("a", "1", "p;q=2"), ("b", "2", "")], "a=1;p;q=2,b=2", "OWS around '=', ';' and ','"),
        ("bad key=1,good=2".into(), vec![("good", "2", "")], "good=2", "invalid key dropped alone"),
        ("a=\"q\",b=2".into(), vec![("b", "2", "")], "b=2", "DQUOTE is not a baggage-octet"),
        ("a=1;,b=2".into(), vec![("b", "2", "")], "b=2", "empty property invalidates its entry"),
        ("a=1;bad prop,b=2".into(), vec![("b", "2", "")], "b=2", "invalid property invalidates its entry"),
        ("novalue,b=2".into(), vec![("b", "2", "")], "b=2", "member without '=' dropped"),
        ("e=,b=2".into(), vec![("e", "", ""), ("b", "2", "")], "e=,b=2", "empty value allowed"),
        ("a=1,,b=2,".into(), vec![("a", "1", ""), ("b", "2", "")], "a=1,b=2", "empty members ignored"),
        ("a=1,a=2".into(), vec![("a", "2", "")], "a=2", "later duplicate replaces the earlier one"),
        ("k=x=y".into(), vec![("k", "x=y", "")], "k=x=y", "'=' is a baggage-octet"),
        ("k=%E2%82%AC".into(), vec![("k", "€", "")], "k=%E2%82%AC", "UTF-8 decoded and re-encoded"),
        ("k=%zz".into(), vec![("k", "%zz", "")], "k=%25zz", "a stray '%' is literal and encoded on output"),
        ("\u{fffd}".into(), vec![], "", "unreadable line"),
    ]
}

#[test]
fn table() {
    for (input, expected, out, reason) in data() {
        let list = BaggageList::parse(&input);
        let got: Vec<(String, String, String)> = list
            .iter()
            .map(|e| {
                (
                    e.key().to_owned(),
                    e.value().into_owned(),
                    e.properties().to_owned(),
                )
            })
            .collect();
        let expected: Vec<(String, String, String)> = expected
            .iter()
            .map(|(k, v, p)| ((*k).to_owned(), (*v).to_owned(), (*p).to_owned()))
            .collect();
        assert_eq!(got, expected, "{reason}");
        assert_eq!(list.header(), out, "{reason}");
    }
}

#[test]
fn fast_paths_agree_with_percent_encoding() {
    for b in 0..0x80u8 {
        let s = String::from(char::from(b));
        assert_eq!(
            encoded_in_canonical(b),
            encode_value(&s) != s,
            "octet {b:#04x}"
        );
    }
    let canonical_values = ["", "a", "%20", "%2C", "a%20b%25c", "x=y", "%25%3B"];
    let other_values = [
        "%",
        "%2",
        "%2c",
        "%41",
        "%zz",
        "%%20",
        "%20%",
        "%E2%82%AC",
        "%e2%82%ac",
        "%FF",
        "%C3",
    ];
    for value in canonical_values.iter().chain(&other_values) {
        let decoded = decode_value(value);
        let canonical = encode_value(&decoded);
        assert_eq!(
            is_canonical(value),
            canonical_values.contains(value),
            "{value:?}"
        );
        if is_canonical(value) {
            assert_eq!(canonical, *value, "{value:?}: sound");
        }
        assert_eq!(decode_owned(value), decoded, "{value:?}");
        if !decoded.contains('\u{fffd}') {
            assert_eq!(decode_owned(value).capacity(), decoded.len(), "{value:?}");
        }
        assert!(decodes_to(&canonical, &decoded), "{value:?}");
        assert!(!decodes_to(&canonical, &format!("{decoded}x")), "{value:?}");
        let mut shorter = decoded.clone().into_owned();
        if shorter.pop().is_some() {
            assert!(!decodes_to(&canonical, &shorter), "{value:?}");
        }
    }
}

/// The split-based canonicalisation the single-pass scanner replaced.
fn reference_member(member: &str) -> Option<(String, usize, usize)> {
    let (key_value, properties) = match member.split_once(';') {
        Some((kv, props)) => (kv, Some(props)),
        None => (member, None),
    };
    let (key, value) = key_value.split_once('=')?;
    let (key, value) = (trim_ows(key), trim_ows(value));
    if !is_token(key) || !value.bytes().all(is_baggage_octet) {
        return None;
    }
    let encoded: String = utf8_percent_encode(&decode_value(value), VALUE_ENCODE).collect();
    let mut out = format!("{key}={encoded}");
    if let Some(props) = properties {
        out.push(';');
        if !normalize_properties(props, &mut out) {
            return None;
        }
    }
    Some((out, key.len(), encoded.len()))
}

fn reference(lines: &[&str]) -> BaggageList {
    let mut list = BaggageList::new();
    for line in lines {
        for member in line.split(',') {
            let member = member.trim_matches([' ', '\t']);
            if member.is_empty() {
                continue;
            }
            if let Some((canonical, key_len, value_len)) = reference_member(member) {
                list.push_canonical(&canonical, key_len, value_len);
            }
        }
    }
    list
}

#[test]
fn single_pass_scanner_matches_the_reference() {
    let alphabet = ["a", "=", ";", ",", " ", "%", "2", "\"", "é"];
    let mut inputs = vec![String::new()];
    let mut last = vec![String::new()];
    for _ in 0..5 {
        last = last
            .iter()
            .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
            .collect();
        inputs.extend(last.iter().cloned());
    }
    inputs.extend(
        [
            "k=%2c%41%e2%82%ac%FF%C3%zz%",
            "k = v ; p = x=y ; q , b=1",
            "k=v;p=",
            "k=v;=x",
            "a=1,a=2;p",
            "k=\t1",
            "k=1\t2",
            "k= 1 ",
            "k=%25%3B%2C%20",
        ]
        .map(str::to_owned),
    );
    for input in &inputs {
        let lines = [input.as_str()];
        assert_eq!(
            BaggageList::parse_lines(&lines),
            reference(&lines),
            "{input:?}"
        );
        let two = ["a=1 ; x", input.as_str(), "b=2"];
        assert_eq!(
            BaggageList::parse_lines(&two),
            reference(&two),
            "{input:?} in the middle"
        );
    }
}

#[test]
fn lines_combined_in_order() {
    let list = BaggageList::parse_lines(&["a=1", "", "b=2,c=3"]);
    assert_eq!(
        list.header(),
        "a=1,b=2,c=3",
        "repeated baggage lines are one list"
    );
}

#[test]
fn limits() {
    let many: Vec<String> = (0..70).map(|i| format!("k{i}=v")).collect();
    let list = BaggageList::parse(&many.join(","));
    assert_eq!(list.len(), MAX_MEMBERS, "entries beyond 64 are dropped");
    assert_eq!(
        list.iter().last().map(|m| m.key()),
        Some("k63"),
        "the first 64 are kept"
    );

    let big = format!("big={}", "x".repeat(5000));
    let list = BaggageList::parse(&format!("a=1,{big},{big}2,b=2"));
    assert!(list.header().len() <= MAX_BYTES, "at most 8192 bytes");
    let keys: Vec<&str> = list.iter().map(|m| m.key()).collect();
    assert_eq!(
        keys,
        ["a", "big", "b"],
        "an entry that does not fit is dropped, later small ones kept"
    );
}

#[test]
fn otel_round_trip() {
    let list = BaggageList::parse("user=alice;ttl=30,tier=gold");
    let otel = list.to_otel();
    assert_eq!(
        otel.get_with_metadata("user")
            .map(|(v, m)| (v.as_str(), m.as_str())),
        Some(("alice", "ttl=30"))
    );
    assert!(list.matches_otel(&otel));
    let mut changed = list.to_otel();
    changed.insert("tier", "silver");
    assert!(!list.matches_otel(&changed), "changed value");
    assert_eq!(changed.get("tier"), Some(&StringValue::from("silver")));
    assert_eq!(
        BaggageList::from_otel(&otel).header(),
        "tier=gold,user=alice;ttl=30",
        "sorted by key"
    );
}
