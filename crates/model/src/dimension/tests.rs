use super::*;
use proptest::prelude::*;

#[test]
fn values_past_the_cap_are_not_admitted_and_counted() {
    let mut cap: DistinctCap<u32, String> = DistinctCap::new(Dimension::App);
    for i in 0..MAX_APPS_PER_ITEM_WINDOW {
        assert!(cap.admit(0, 100, 7, format!("app-{i}").as_str()));
    }
    assert!(!cap.admit(0, 100, 7, "one-too-many"));
    assert!(!cap.admit(0, 100, 7, "one-too-many"), "refused for as long as the window is held");
    assert!(cap.admit(0, 100, 7, "app-0"), "admitted values stay admitted");
    assert!(cap.admit(0, 100, 8, "one-too-many"), "another scope has its own quota");
    assert!(cap.admit(60, 100, 7, "one-too-many"), "another window too");
    assert_eq!(cap.take_overflow().get(Dimension::App), 2);
    assert_eq!(cap.take_overflow(), Overflow::default(), "taken");
    cap.expire(99);
    assert_eq!(cap.len(), 2);
    cap.expire(100);
    assert!(cap.is_empty());
}

#[test]
fn a_quota_lasts_as_long_as_its_latest_expiry() {
    let mut cap: DistinctCap<(), String> = DistinctCap::new(Dimension::EventType);
    cap.admit(0, 10, (), "a");
    cap.admit(0, 50, (), "b");
    cap.expire(20);
    assert_eq!(cap.held().count(), 2);
}

#[test]
fn fold_top_keeps_the_largest_then_by_name() {
    let mut m: BTreeMap<String, u64> = [("a", 1), ("b", 5), ("c", 5), ("d", 2)].map(|(k, v)| (k.to_owned(), v)).into();
    assert_eq!(fold_top(&mut m, 4), 0, "at the cap nothing moves");
    assert_eq!(fold_top(&mut m, 3), 2);
    let want: BTreeMap<String, u64> = [("b", 5), ("c", 5), (OTHER, 3)].map(|(k, v)| (k.to_owned(), v)).into();
    assert_eq!(m, want);
}

proptest! {
    #[test]
    fn fold_top_is_bounded_keeps_the_total_and_ignores_order(
        entries in proptest::collection::vec(("[a-e(]{1,3}", 1u64..20), 0..40),
        cap in 1usize..8,
    ) {
        let build = |es: &[(String, u64)]| {
            let mut m = BTreeMap::new();
            for (k, v) in es {
                *m.entry(k.clone()).or_insert(0) += v;
            }
            m
        };
        let mut m = build(&entries);
        let total: u64 = m.values().sum();
        fold_top(&mut m, cap);
        prop_assert!(m.len() <= cap);
        prop_assert_eq!(m.values().sum::<u64>(), total);
        let mut reversed: Vec<_> = entries.clone();
        reversed.reverse();
        let mut r = build(&reversed);
        fold_top(&mut r, cap);
        prop_assert_eq!(m, r);
    }
}
