use std::net::Ipv4Addr;

use weft_config::{Body, LoadOptions, Object, load_str};

use super::*;

/// Bookinfo-like objects, listed out of order on purpose.
const BOOKINFO: &str = r#"
apiVersion: v1
kind: ServiceAccount
metadata:
  name: bookinfo-reviews
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: reviews-v2
spec:
  replicas: 2
  template:
    metadata:
      labels:
        app: reviews
        version: v2
    spec:
      serviceAccountName: bookinfo-reviews
      containers:
      - name: reviews
        command: ["bookinfo", "reviews"]
        args: ["--listen", "$(APP_IP):9080", "--name", "$(POD_NAME)", "$$(APP_IP)", "$(UNSET)"]
        workingDir: /srv/reviews
        ports:
        - containerPort: 9080
          name: http
        env:
        - name: RATINGS_HOST
          value: ratings.$(POD_NAMESPACE).svc
        - name: STARS
          value: "$(COLOR)-stars"
        - name: COLOR
          value: black
        - name: RATINGS_URL
          value: http://$(RATINGS_HOST):9080
        - name: HTTP_PROXY
          value: http://override
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: details-v1
spec:
  template:
    metadata:
      labels:
        app: details
    spec:
      containers:
      - name: details
        image: weft/details
        ports:
        - containerPort: 9080
      - name: helper
        command: ["sh", "-c", "echo $(POD_NAME)"]
        ports:
        - containerPort: 9090
          name: metrics
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: external-db
  namespace: data
spec:
  replicas: 1
  template:
    metadata:
      labels:
        app: db
    spec:
      containers:
      - name: db
        image: postgres
        ports:
        - containerPort: 5432
          name: tcp-db
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: scaled-down
spec:
  replicas: 0
  template:
    spec:
      containers:
      - name: x
        command: ["true"]
"#;

fn load(text: &str) -> Vec<Object> {
    let loaded = load_str("test.yaml", text, &LoadOptions::default());
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    loaded.objects
}

fn bookinfo_plan() -> Plan {
    plan(&load(BOOKINFO), &PlanOptions::default()).expect("plan")
}

fn env_value<'a>(instance: &'a Instance, name: &str) -> Option<&'a str> {
    instance
        .env
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn instances_are_numbered_by_namespace_deployment_and_index() {
    let plan = bookinfo_plan();
    let names: Vec<_> = plan
        .instances
        .iter()
        .map(|i| (i.namespace.as_str(), i.name.as_str(), i.pod_ip, i.app_ip))
        .collect();
    assert_eq!(
        names,
        [
            (
                "data",
                "external-db-0",
                Ipv4Addr::new(127, 10, 0, 1),
                Ipv4Addr::new(127, 11, 0, 1)
            ),
            (
                "default",
                "details-v1-0",
                Ipv4Addr::new(127, 10, 0, 2),
                Ipv4Addr::new(127, 11, 0, 2)
            ),
            (
                "default",
                "reviews-v2-0",
                Ipv4Addr::new(127, 10, 0, 3),
                Ipv4Addr::new(127, 11, 0, 3)
            ),
            (
                "default",
                "reviews-v2-1",
                Ipv4Addr::new(127, 10, 0, 4),
                Ipv4Addr::new(127, 11, 0, 4)
            ),
        ]
    );
    let reviews = &plan.instances[2];
    assert_eq!(reviews.deployment, "reviews-v2");
    assert_eq!(reviews.service_account, "bookinfo-reviews");
    assert_eq!(
        reviews.labels.get("version").map(String::as_str),
        Some("v2")
    );
    assert_eq!(reviews.ports, [(Some("http".to_string()), 9080)]);
    assert_eq!(
        reviews.working_dir.as_deref(),
        Some(std::path::Path::new("/srv/reviews"))
    );
    assert_eq!(plan.instances[1].service_account, "default");
}

#[test]
fn addresses_follow_the_options() {
    let opts = PlanOptions {
        first_pod_ip: Ipv4Addr::new(10, 1, 0, 254),
        first_app_ip: Ipv4Addr::new(10, 2, 7, 0),
        proxy_http_port: 3128,
    };
    let plan = plan(&load(BOOKINFO), &opts).expect("plan");
    let pods: Vec<_> = plan
        .instances
        .iter()
        .map(|i| i.pod_ip.to_string())
        .collect();
    assert_eq!(pods, ["10.1.0.254", "10.1.0.255", "10.1.1.0", "10.1.1.1"]);
    assert_eq!(plan.instances[3].app_ip, Ipv4Addr::new(10, 2, 7, 3));
    assert_eq!(
        env_value(&plan.instances[0], "http_proxy"),
        Some("http://10.1.0.254:3128")
    );
}

#[test]
fn addresses_past_the_slash_16_are_an_error() {
    let opts = PlanOptions {
        first_pod_ip: Ipv4Addr::new(127, 10, 255, 253),
        ..PlanOptions::default()
    };
    let err = plan(&load(BOOKINFO), &opts).expect_err("fourth instance has no address");
    let text = err.to_string();
    assert!(
        text.contains("Deployment default/reviews-v2: spec.replicas:"),
        "{text}"
    );
    assert!(
        text.contains("no address left for instance 4 in the /16 of 127.10.255.253"),
        "{text}"
    );
}

#[test]
fn overlapping_address_ranges_are_an_error() {
    let opts = PlanOptions {
        first_app_ip: Ipv4Addr::new(127, 10, 100, 1),
        ..PlanOptions::default()
    };
    let err = plan(&[], &opts).expect_err("same /16");
    assert!(matches!(err, PlanError::Options(_)), "{err}");
}

#[test]
fn environment_comes_in_order_and_is_expanded() {
    let plan = bookinfo_plan();
    let reviews = &plan.instances[3];
    let env: Vec<(&str, &str)> = reviews
        .env
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        env,
        [
            ("POD_NAME", "reviews-v2-1"),
            ("POD_NAMESPACE", "default"),
            ("INSTANCE_IP", "127.10.0.4"),
            ("APP_IP", "127.11.0.4"),
            ("SERVICE_ACCOUNT", "bookinfo-reviews"),
            ("HTTP_PROXY", "http://override"),
            ("http_proxy", "http://127.10.0.4:15080"),
            ("NO_PROXY", "localhost,127.0.0.1"),
            ("no_proxy", "localhost,127.0.0.1"),
            ("RATINGS_HOST", "ratings.default.svc"),
            // COLOR is defined later, so the reference stays as written (like the kubelet).
            ("STARS", "$(COLOR)-stars"),
            ("COLOR", "black"),
            ("RATINGS_URL", "http://ratings.default.svc:9080"),
        ]
    );
}

#[test]
fn command_and_args_are_expanded() {
    let plan = bookinfo_plan();
    assert_eq!(
        plan.instances[3].command,
        [
            "bookinfo",
            "reviews",
            "--listen",
            "127.11.0.4:9080",
            "--name",
            "reviews-v2-1",
            "$(APP_IP)",
            "$(UNSET)"
        ]
    );
}

#[test]
fn the_first_container_with_a_command_runs() {
    let plan = bookinfo_plan();
    let details = &plan.instances[1];
    assert_eq!(details.command, ["sh", "-c", "echo details-v1-0"]);
    assert_eq!(
        details.ports,
        [(None, 9080), (Some("metrics".to_string()), 9090)]
    );
    let spec = details.process_spec().expect("runs");
    assert_eq!(
        (spec.name.as_str(), spec.program.as_str()),
        ("details-v1-0", "sh")
    );
    assert_eq!(spec.args, ["-c", "echo details-v1-0"]);
    assert_eq!(
        (spec.env.clone(), spec.cwd, spec.restart),
        (details.env.clone(), None, true)
    );
    let external = &plan.instances[0];
    assert!(external.is_external() && external.process_spec().is_none());
    assert_eq!(env_value(external, "POD_NAMESPACE"), Some("data"));
}

fn with_container_tail(tail: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: reviews-v2\nspec:\n  template:\n    spec:\n      containers:\n      - name: reviews\n        command: [\"x\"]\n{tail}"
    )
}

#[test]
fn value_from_is_rejected_with_its_path() {
    let text = with_container_tail(
        "        env:\n        - name: A\n          value: a\n        - name: B\n        - name: C\n          valueFrom:\n            fieldRef:\n              fieldPath: status.podIP\n",
    );
    let err = plan(&load(&text), &PlanOptions::default()).expect_err("valueFrom");
    let text = err.to_string();
    let (position, rest) = text.split_at(text.find(" Deployment").expect("object named"));
    assert!(position.starts_with("test.yaml:1"), "{text}");
    assert_eq!(
        rest,
        " Deployment default/reviews-v2: spec.template.spec.containers[0].env[2].valueFrom: \
         is not supported locally for C (it needs a cluster); use value"
    );
}

#[test]
fn env_from_is_rejected_with_its_path() {
    let text =
        with_container_tail("        envFrom:\n        - configMapRef:\n            name: cfg\n");
    let err = plan(&load(&text), &PlanOptions::default()).expect_err("envFrom");
    let text = err.to_string();
    assert!(
        text.contains("Deployment default/reviews-v2: spec.template.spec.containers[0].envFrom: is not supported"),
        "{text}"
    );
}

#[test]
fn bad_ports_and_replicas_are_rejected_with_their_paths() {
    let text = with_container_tail("        ports:\n        - containerPort: 70000\n");
    let err = plan(&load(&text), &PlanOptions::default()).expect_err("port");
    assert!(
        err.to_string()
            .contains("spec.template.spec.containers[0].ports[0].containerPort: must be between 1 and 65535 (got 70000)"),
        "{err}"
    );
    let text =
        with_container_tail("").replace("spec:\n  template", "spec:\n  replicas: -1\n  template");
    let err = plan(&load(&text), &PlanOptions::default()).expect_err("replicas");
    assert!(
        err.to_string()
            .contains("spec.replicas: must not be negative (got -1)"),
        "{err}"
    );
}

#[test]
fn duplicate_deployments_are_rejected() {
    let one = with_container_tail("");
    let err = plan(&load(&format!("{one}---\n{one}")), &PlanOptions::default()).expect_err("dup");
    assert!(
        err.to_string()
            .contains("metadata.name: defined more than once"),
        "{err}"
    );
}

#[test]
fn other_kinds_and_versions_are_ignored() {
    let objects = load(BOOKINFO);
    let mut not_apps_v1: Vec<Object> = objects.clone();
    for object in &mut not_apps_v1 {
        object.api_version = "extensions/v1beta1".into();
    }
    assert!(
        plan(&not_apps_v1, &PlanOptions::default())
            .expect("plan")
            .instances
            .is_empty()
    );
    let only_accounts: Vec<Object> = objects
        .into_iter()
        .filter(|o| matches!(o.body, Body::ServiceAccount(_)))
        .collect();
    assert!(
        plan(&only_accounts, &PlanOptions::default())
            .expect("plan")
            .instances
            .is_empty()
    );
}

#[test]
fn pods_yaml_loads_back_as_the_same_pods() {
    let mut plan = bookinfo_plan();
    plan.instances[0].labels.insert(
        "odd: key".into(),
        "\"quoted\" \\ value\n# not a comment".into(),
    );
    let yaml = pods_yaml(&plan);
    let loaded = load_str("pods.yaml", &yaml, &LoadOptions::default());
    assert!(loaded.problems.is_empty(), "{:?}\n{yaml}", loaded.problems);
    assert_eq!(loaded.objects.len(), plan.instances.len(), "{yaml}");
    for (object, instance) in loaded.objects.iter().zip(&plan.instances) {
        let Body::Pod(pod) = &object.body else {
            panic!("not a pod: {object:?}");
        };
        assert_eq!(object.api_version, "v1");
        assert_eq!(object.name(), instance.name);
        assert_eq!(object.namespace(), instance.namespace);
        let mut labels = instance.labels.clone();
        if !instance.is_external() {
            labels.insert(TLS_MODE_LABEL.into(), "istio".into());
        }
        assert_eq!(object.metadata.labels, labels);
        assert_eq!(
            pod.spec.service_account_name.as_deref(),
            Some(instance.service_account.as_str())
        );
        let containers: Vec<ContainerPorts> = pod
            .spec
            .containers
            .iter()
            .map(|c| ContainerPorts {
                name: c.name.clone(),
                ports: c
                    .ports
                    .iter()
                    .map(|p| {
                        (
                            p.name.clone(),
                            u16::try_from(p.container_port).expect("port"),
                        )
                    })
                    .collect(),
            })
            .collect();
        assert_eq!(containers, instance.containers);
        let status = pod.status.as_ref().expect("status");
        assert_eq!(
            status.phase,
            Some(weft_config::model::kube::PodPhase::Running)
        );
        assert_eq!(status.pod_ip, Some(instance.pod_ip.to_string()));
    }
}

#[test]
fn pods_yaml_of_an_empty_plan_is_empty() {
    assert_eq!(pods_yaml(&Plan::default()), "");
}
