use super::*;

#[test]
fn sources_use_contract_names() {
    assert_eq!(Source::DesiredState.as_str(), "desired_state");
    assert_eq!(Source::Job.as_str(), "job");
    assert_eq!(Source::Agent.as_str(), "agent");
}
