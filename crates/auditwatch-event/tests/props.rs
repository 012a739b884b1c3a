//! Property tests: no input panics the decoder, splitter or record parser, and every
//! record the splitter cuts out of a valid document is the original text.

use auditwatch_event::split::split;
use auditwatch_event::{Limits, Record, archive, decode};
use proptest::prelude::*;

fn parse_all(bytes: &[u8]) {
    let Ok(doc) = decode::decode(bytes, 1 << 20) else {
        return;
    };
    let Ok(cut) = split(&doc) else { return };
    for item in &cut.items {
        if let Ok(text) = std::str::from_utf8(&item.text)
            && let Ok(r) = Record::parse(text)
        {
            let _ = (r.username(), r.account_id(None), r.key(), r.day());
        }
    }
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "[a-zA-Z0-9:/ \\-\"\\\\é]{0,12}".prop_map(serde_json::Value::from),
        Just(serde_json::Value::from("2024-01-02T03:04:05Z")),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let keys = prop_oneof![
            Just("eventTime".to_string()),
            Just("eventName".to_string()),
            Just("eventVersion".to_string()),
            Just("userIdentity".to_string()),
            Just("type".to_string()),
            Just("arn".to_string()),
            Just("resources".to_string()),
            Just("readOnly".to_string()),
            Just("Records".to_string()),
            "[a-z]{1,6}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::from),
            prop::collection::btree_map(keys, inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        parse_all(&bytes);
        let mut gz = vec![0x1f, 0x8b];
        gz.extend(&bytes);
        parse_all(&gz);
        let _ = archive::for_each_entry(std::io::Cursor::new(bytes), &Limits::default(), |_, _| {});
    }

    #[test]
    fn arbitrary_json_never_panics(v in json_value()) {
        let text = v.to_string();
        parse_all(text.as_bytes());
        parse_all(format!("{{\"Records\":[{text},{text}]}}").as_bytes());
        parse_all(format!("{text}\n{text}\n").as_bytes());
    }

    #[test]
    fn records_are_cut_out_verbatim(v in prop::collection::vec(json_value(), 1..6)) {
        let objects: Vec<String> = v.iter().map(|x| serde_json::json!({"eventTime": "2024-01-02T03:04:05Z", "x": x}).to_string()).collect();
        let doc = format!("{{\"Records\":[{}]}}", objects.join(" ,\n "));
        let cut = split(doc.as_bytes()).unwrap();
        prop_assert!(cut.errors.is_empty());
        let texts: Vec<String> = cut.items.iter().map(|i| String::from_utf8(i.text.to_vec()).unwrap()).collect();
        prop_assert_eq!(texts, objects);
    }
}
