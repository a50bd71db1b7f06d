"""The Pachyderm values model: inputs in, chart values out, checked against the reference chart."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import yaml
from support.role_inputs import WithRoleDefaults

from ansible_collections.oneport.pachyderm.plugins.module_utils import chart_contract as contract
from ansible_collections.oneport.pachyderm.plugins.module_utils import pachyderm_inputs as _pachyderm_inputs
from ansible_collections.oneport.pachyderm.plugins.module_utils import pachyderm_pinning as _pachyderm_pinning
from ansible_collections.oneport.pachyderm.plugins.module_utils import pachyderm_values as _pachyderm_values

# The models require every input; these complete what a test leaves out from the role defaults.
inputs_model = WithRoleDefaults(_pachyderm_inputs)
pinning = WithRoleDefaults(_pachyderm_pinning)
model = WithRoleDefaults(_pachyderm_values)

HOST = "pachyderm.example.com"
IRSA = "arn:aws:iam::123456789012:role/pachyderm"


@pytest.fixture(scope="module")
def schema(reference_dir):
    return json.loads((reference_dir / "pachyderm" / "values.schema.json").read_text())


@pytest.fixture(scope="module")
def chart_values(reference_dir):
    return yaml.safe_load((reference_dir / "pachyderm" / "values.yaml").read_text())


def build(inputs: dict, pinned=None) -> dict:
    pinned = pinned or pinning.pin(None, pinning.pinned_keys(inputs))["values"]
    return model.build_values(inputs, pinned)


PLATFORM_INPUTS = {
    "aws": {"platform": "aws", "aws_subnets": ["subnet-0a1b2c3d"], "lb_internal": True},
    "gcp": {"platform": "gcp", "lb_static_ip": "203.0.113.10"},
    "azure": {"platform": "azure", "lb_static_ip": "20.0.0.10", "azure_resource_group": "rg"},
    "metallb": {"platform": "metallb", "metallb_address_pool": "lan"},
    "nodeport": {"platform": "nodeport"},
    "kind": {"platform": "kind"},
    "local": {"platform": "local"},
}
TLS_INPUTS = {
    "off": {"tls": "off", "accept_public_exposure_risk": True},
    "self_signed": {"tls": "self_signed", "proxy_host": HOST, "tls_secret_name": "pachyderm-proxy-tls"},
    "existing_secret": {"tls": "existing_secret", "proxy_host": HOST, "tls_secret_name": "site-tls"},
}
STORAGE_INPUTS = {
    "s3-irsa": {"storage_backend": "s3", "storage_bucket": "data-bucket", "storage_region": "us-east-1"},
    "s3-keys": {
        "storage_backend": "s3",
        "storage_bucket": "data-bucket",
        "storage_region": "eu-west-1",
        "storage_access_key_id": "AKIAEXAMPLE",
        "storage_secret_access_key": "secret",
    },
    "minio": {
        "storage_backend": "minio",
        "storage_bucket": "pachyderm",
        "storage_endpoint": "minio:9000",
        "storage_credentials_secret": "minio-creds",
    },
    "gcs": {"storage_backend": "gcs", "storage_bucket": "data-bucket", "storage_gcs_credentials": "{}"},
    "azure": {"storage_backend": "azure", "storage_bucket": "data", "storage_credentials_secret": "az"},
    "local": {"storage_backend": "local"},
}
DATABASE_INPUTS = {
    "bundled": {"database": "bundled"},
    "external": {"database": "external", "database_host": "db.example.com", "database_password_secret": "pg"},
    "cloudsql": {
        "database": "external",
        "database_cloudsql_connection_name": "project:region:instance",
        "database_password_secret": "pg",
    },
}
AUTH_INPUTS = {
    "mock-sandbox": {"environment": "sandbox", "mock_idp": True},
    "upstream": {
        "mock_idp": False,
        "upstream_idps": [
            {
                "id": "okta",
                "type": "oidc",
                "config": {"issuer": "https://x.okta.com"},
                "secret": {"name": "o", "key": "k"},
            }
        ],
        "allowed_users": ["alice@example.com"],
        "allowed_groups": ["data-team"],
    },
    "enterprise": {"mock_idp": False, "enterprise_enabled": True, "enterprise_license_secret": "license"},
}


def combination(platform, tls, storage, database, auth) -> dict:
    inputs = {}
    for part in (
        PLATFORM_INPUTS[platform],
        TLS_INPUTS[tls],
        STORAGE_INPUTS[storage],
        DATABASE_INPUTS[database],
        AUTH_INPUTS[auth],
    ):
        inputs.update(part)
    if storage == "s3-irsa":
        inputs["storage_aws_role_arn"] = IRSA
    return inputs


def applicable(platform, storage, auth) -> bool:
    if storage == "s3-irsa" and platform != "aws":
        return False
    return not (auth == "mock-sandbox" and platform in ("aws", "gcp", "azure"))


COMBINATIONS = [
    c
    for c in itertools.product(PLATFORM_INPUTS, TLS_INPUTS, STORAGE_INPUTS, DATABASE_INPUTS, AUTH_INPUTS)
    if applicable(c[0], c[2], c[4])
]


@pytest.mark.parametrize("combo", COMBINATIONS, ids=["-".join(c) for c in COMBINATIONS])
def test_every_combination_validates_against_the_schema_and_sets_only_chart_keys(combo, schema, chart_values):
    values = build(combination(*combo))
    assert contract.chart_problems(values, schema, chart_values) == []


# --- the checks against the chart ------------------------------------------------------------------


def test_a_key_the_chart_lacks_is_reported_even_though_the_schema_accepts_it(schema, chart_values):
    values = {"proxy": {"service": {"loadBalancerSourceRanges": ["10.0.0.0/8"]}}}
    assert contract.schema_problems(values, schema) == []
    assert contract.unknown_paths(values, chart_values, schema) == ["proxy.service.loadBalancerSourceRanges"]


def test_free_form_maps_of_the_chart_accept_any_key(chart_values, schema):
    values = {"proxy": {"service": {"annotations": {"anything.example.com/x": "1"}}}}
    assert contract.unknown_paths(values, chart_values, schema) == []


def test_keys_the_schema_declares_but_values_yaml_omits_are_known(chart_values, schema):
    values = {"pachd": {"enterpriseLicenseKeySecretName": "license"}}
    assert contract.unknown_paths(values, chart_values, schema) == []


def test_a_value_of_the_wrong_type_is_a_schema_problem(schema):
    problems = contract.schema_problems({"proxy": {"service": {"httpNodePort": "30080"}}}, schema)
    assert problems and problems[0].startswith("proxy.service.httpNodePort")


# --- the proxy ---------------------------------------------------------------------------------------


def test_the_proxy_is_always_on_with_the_host():
    values = build({"platform": "metallb", "environment": "sandbox", "proxy_host": HOST})
    assert values["proxy"]["enabled"] is True
    assert values["proxy"]["host"] == HOST


def test_source_ranges_never_use_a_key_the_chart_lacks():
    values = build({"platform": "metallb", "environment": "sandbox", "source_ranges": ["10.0.0.0/8"]})
    assert "loadBalancerSourceRanges" not in values["proxy"]["service"]
    annotations = values["proxy"]["service"]["annotations"]
    assert annotations["service.beta.kubernetes.io/load-balancer-source-ranges"] == "10.0.0.0/8"


def test_source_ranges_are_refused_for_a_node_port_service():
    with pytest.raises(ValueError, match="applies only to a LoadBalancer"):
        inputs_model.check_inputs({"platform": "nodeport", "source_ranges": ["10.0.0.0/8"]})


def test_node_port_services_carry_their_node_ports():
    service = build({"platform": "kind", "http_node_port": 30080})["proxy"]["service"]
    assert service["type"] == "NodePort"
    assert service["httpNodePort"] == 30080


def test_node_ports_given_on_the_command_line_as_strings_are_numbers():
    service = build({"platform": "kind", "http_node_port": "30081", "https_node_port": " 30444"})["proxy"]
    assert service["service"]["httpNodePort"] == 30081
    assert service["service"]["httpsNodePort"] == 30444
    with pytest.raises(ValueError, match="pachyderm_http_node_port: '30x' is not a node port"):
        inputs_model.check_inputs({"platform": "kind", "http_node_port": "30x"})


def test_a_node_port_outside_the_range_is_refused():
    with pytest.raises(ValueError, match="pachyderm_http_node_port: 8080 is not a node port"):
        inputs_model.check_inputs({"platform": "kind", "http_node_port": 8080})


def test_external_traffic_policy_is_passed_through():
    values = build({"platform": "metallb", "environment": "sandbox", "external_traffic_policy": "Local"})
    assert values["proxy"]["service"]["externalTrafficPolicy"] == "Local"


def test_legacy_ports_use_the_chart_names():
    values = build({"platform": "kind", "legacy_ports": {"grpc": 30650, "s3_gateway": 30600, "oidc": 0}})
    assert values["proxy"]["service"]["legacyPorts"] == {"grpc": 30650, "s3Gateway": 30600}


def test_legacy_ports_are_refused_with_tls_on_the_charts_own_proxy_configuration():
    with pytest.raises(ValueError, match="pachyderm_legacy_ports"):
        inputs_model.check_inputs(
            {
                "platform": "local",
                "tls": "self_signed",
                "proxy_host": HOST,
                "legacy_ports": {"grpc": 30650},
                "proxy_config": "chart",
            }
        )


def test_legacy_ports_with_tls_are_served_by_the_collections_proxy_configuration():
    inputs = {"platform": "local", "tls": "self_signed", "proxy_host": HOST, "legacy_ports": {"grpc": 30650}}
    assert (
        inputs_model.check_inputs(dict(inputs, tls_secret_name="pachyderm-proxy-tls"))["proxy_config"]
        == "collection"
    )


def test_an_unknown_legacy_port_is_refused_with_the_known_names():
    with pytest.raises(ValueError, match="the legacy ports are: console, grpc"):
        inputs_model.check_inputs({"platform": "local", "legacy_ports": {"ssh": 22}})


def test_tls_points_the_proxy_at_the_secret():
    values = build(
        {"platform": "local", "tls": "self_signed", "proxy_host": HOST, "tls_secret_name": "proxy-tls"}
    )
    assert values["proxy"]["tls"] == {"enabled": True, "secretName": "proxy-tls"}


def test_tls_without_a_host_names_the_host_variable():
    with pytest.raises(
        ValueError, match=r"pachyderm_proxy_host \(oneport_proxy_host\): '' is empty but pachyderm_tls"
    ):
        inputs_model.check_inputs({"platform": "local", "tls": "self_signed"})


@pytest.mark.parametrize(
    "host", ["https://pachyderm.example.com", "pachyderm_lab.example.com", "a..b", "x:99999"]
)
def test_a_bad_proxy_host_is_refused(host):
    with pytest.raises(ValueError, match="pachyderm_proxy_host"):
        inputs_model.check_inputs({"platform": "local", "proxy_host": host})


def test_acme_refuses_an_address_as_host():
    with pytest.raises(ValueError, match="ACME issues"):
        inputs_model.check_inputs({"platform": "metallb", "tls": "acme_http01", "proxy_host": "10.0.0.1"})


# --- OAuth / OIDC URIs -------------------------------------------------------------------------------


def test_every_oidc_uri_derives_from_the_host_and_https_with_tls():
    values = build({"platform": "local", "tls": "self_signed", "proxy_host": HOST, "tls_secret_name": "t"})
    assert values["pachd"]["oauthRedirectURI"] == f"https://{HOST}/authorization-code/callback"
    assert values["console"]["config"]["reactAppRuntimeIssuerURI"] == f"https://{HOST}"
    assert values["console"]["config"]["oauthRedirectURI"] == f"https://{HOST}/oauth/callback/?inline=true"
    assert values["oidc"]["userAccessibleOauthIssuerHost"] == HOST


def test_oidc_uris_use_http_without_tls():
    values = build({"platform": "local", "proxy_host": "pachyderm.localhost"})
    assert values["pachd"]["oauthRedirectURI"] == "http://pachyderm.localhost/authorization-code/callback"


def test_without_a_host_the_chart_infers_the_uris():
    values = build({"platform": "local"})
    assert "oauthRedirectURI" not in values["pachd"]
    assert "userAccessibleOauthIssuerHost" not in values["oidc"]


def test_console_uris_are_left_out_when_the_console_is_off():
    values = build({"platform": "local", "proxy_host": HOST, "console_enabled": False})
    assert values["console"] == {"enabled": False}


def test_upstream_connectors_get_the_dex_callback_under_the_one_port_and_their_secret():
    inputs = {"platform": "metallb", "tls": "self_signed", "proxy_host": HOST, "tls_secret_name": "t"}
    inputs["upstream_idps"] = [
        {
            "id": "okta",
            "type": "oidc",
            "config": {"issuer": "https://x"},
            "secret": {"name": "s", "key": "k"},
        },
        {"id": "ldap", "type": "ldap", "config": {"host": "ldap:636"}, "secret": {"name": "l", "key": "p"}},
    ]
    okta, ldap = model.upstream_idps_document(inputs, {"okta": "client-secret", "ldap": "bind-password"})
    assert okta["config"]["redirectURI"] == f"https://{HOST}/dex/callback"
    assert okta["config"]["clientSecret"] == "client-secret"
    assert ldap["config"]["bindPW"] == "bind-password"
    assert "redirectURI" not in ldap["config"]


def test_upstream_connectors_reach_the_chart_through_a_secret_only():
    inputs = {
        "platform": "metallb",
        "upstream_idps": [{"id": "gh", "type": "github", "config": {}, "secret": {"name": "s", "key": "k"}}],
    }
    values = build(inputs)
    assert values["oidc"]["upstreamIDPsSecretName"] == "pachyderm-oneport-upstream-idps"
    assert values["oidc"]["mockIDP"] is False
    assert "upstreamIDPs" not in values["oidc"]


def test_an_inline_client_secret_is_refused():
    idp = {"id": "okta", "type": "oidc", "config": {"clientSecret": "x"}}
    with pytest.raises(ValueError, match=r"config\.clientSecret: '<hidden>' is given inline"):
        inputs_model.check_inputs({"platform": "local", "upstream_idps": [idp]})


def test_duplicate_connector_ids_are_refused():
    idp = {"id": "okta", "type": "oidc", "config": {}}
    with pytest.raises(ValueError, match="used twice"):
        inputs_model.check_inputs(
            {"platform": "local", "environment": "sandbox", "mock_idp": False, "upstream_idps": [idp, idp]}
        )


# --- auth -----------------------------------------------------------------------------------------


def test_the_mock_idp_is_on_in_a_sandbox_by_default():
    assert build({"platform": "local"})["oidc"]["mockIDP"] is True


def test_the_mock_idp_is_off_in_production_by_default():
    assert build({"platform": "metallb"})["oidc"]["mockIDP"] is False


def test_the_mock_idp_is_refused_in_production():
    with pytest.raises(
        ValueError, match="pachyderm_mock_idp: True but pachyderm_environment is 'production'"
    ):
        inputs_model.check_inputs({"platform": "metallb", "mock_idp": True})


def test_auth_stays_on_in_production():
    with pytest.raises(ValueError, match="pachyderm_auth_enabled: False in a production environment"):
        inputs_model.check_inputs({"platform": "metallb", "auth_enabled": False})


def test_allowed_users_and_groups_become_cluster_role_bindings():
    values = build(
        {"platform": "metallb", "allowed_users": ["alice@example.com"], "allowed_groups": ["group:data"]}
    )
    assert values["pachd"]["pachAuthClusterRoleBindings"] == {
        "user:alice@example.com": ["clusterAdmin"],
        "group:data": ["clusterAdmin"],
    }


def test_a_user_with_spaces_is_refused():
    with pytest.raises(ValueError, match="pachyderm_allowed_users: 'alice smith' is not a user name"):
        inputs_model.check_inputs({"platform": "metallb", "allowed_users": ["alice smith"]})


def test_a_public_load_balancer_without_tls_is_refused_unless_acknowledged():
    inputs = {
        "platform": "gcp",
        "storage_bucket": "data-bucket",
        "storage_gcp_service_account": "sa@p.iam.gserviceaccount.com",
    }
    with pytest.raises(ValueError, match="pachyderm_accept_public_exposure_risk"):
        inputs_model.check_inputs(inputs)
    inputs_model.check_inputs({**inputs, "accept_public_exposure_risk": True})


def test_an_internal_load_balancer_needs_no_acknowledgement():
    inputs = {
        "platform": "gcp",
        "lb_internal": True,
        "storage_bucket": "data-bucket",
        "storage_gcs_credentials": "{}",
    }
    inputs_model.check_inputs(inputs)


def test_enterprise_needs_a_license():
    with pytest.raises(ValueError, match="pachyderm_enterprise_enabled: True but there is no license"):
        inputs_model.check_inputs({"platform": "local", "enterprise_enabled": True})


def test_an_inline_license_goes_to_the_pinned_secret_not_the_values():
    inputs = {"platform": "local", "enterprise_enabled": True, "enterprise_license_key": "LICENSE"}
    pinned = pinning.pin(None, pinning.pinned_keys(inputs))["values"]
    values = model.build_values(inputs, pinned)
    assert "LICENSE" not in json.dumps(values)
    assert values["pachd"]["enterpriseLicenseKeySecretName"] == "pachyderm-oneport-pinned"
    assert pinning.pinned_secret_data(inputs, pinned)["enterprise-license-key"] == "LICENSE"


# --- storage and database ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("storage", "url"),
    [
        ("s3-keys", "s3://data-bucket"),
        ("minio", "s3://pachyderm?endpoint=minio:9000&region=us-east-1&s3ForcePathStyle=true"),
        ("gcs", "gs://data-bucket"),
        ("azure", "azblob://data"),
        ("local", "file:///pach/storage"),
    ],
)
def test_the_storage_url_the_chart_requires_is_always_set(storage, url):
    inputs = {"platform": "metallb", **STORAGE_INPUTS[storage]}
    assert build(inputs)["pachd"]["storage"]["storageURL"] == url


def test_minio_is_an_amazon_backend_with_a_custom_endpoint():
    inputs = {"platform": "metallb", **STORAGE_INPUTS["minio"], "storage_secure": False}
    storage = build(inputs)["pachd"]["storage"]
    assert storage["backend"] == "AMAZON"
    assert storage["amazon"]["customEndpoint"] == "http://minio:9000"
    assert storage["storageURL"].endswith("&disableSSL=true")


def test_minio_deploys_as_a_custom_target_on_the_amazon_backend():
    values = build({"platform": "metallb", **STORAGE_INPUTS["minio"]})
    assert values["deployTarget"] == "CUSTOM"
    assert values["pachd"]["storage"]["backend"] == "AMAZON"


@pytest.mark.parametrize(
    ("storage", "target"),
    [
        ("s3-keys", "AMAZON"),
        ("minio", "CUSTOM"),
        ("gcs", "GOOGLE"),
        ("azure", "MICROSOFT"),
        ("local", "LOCAL"),
    ],
)
def test_every_storage_backend_sets_the_deploy_target_the_chart_requires(storage, target):
    # The chart fails with "deployTarget must be set" when it is empty.
    assert build({"platform": "metallb", **STORAGE_INPUTS[storage]})["deployTarget"] == target


def test_storage_credentials_come_from_the_named_secret():
    inputs = {"platform": "metallb", **STORAGE_INPUTS["minio"]}
    pinned = pinning.pin(None, pinning.pinned_keys(inputs))["values"]
    data = {"access-key-id": "id", "secret-access-key": "key"}
    amazon = model.build_values(inputs, pinned, data)["pachd"]["storage"]["amazon"]
    assert (amazon["id"], amazon["secret"]) == ("id", "key")


def test_a_credentials_secret_missing_a_key_is_named():
    inputs = {"platform": "metallb", **STORAGE_INPUTS["minio"]}
    pinned = pinning.pin(None, pinning.pinned_keys(inputs))["values"]
    with pytest.raises(ValueError, match="lacks the key\\(s\\) secret-access-key"):
        model.build_values(inputs, pinned, {"access-key-id": "id"})


def test_cloud_storage_without_credentials_is_refused():
    with pytest.raises(ValueError, match="no credentials are given"):
        inputs_model.check_inputs({"platform": "azure", "lb_internal": True, "storage_bucket": "data"})


def test_irsa_annotates_both_service_accounts():
    inputs = combination("aws", "self_signed", "s3-irsa", "bundled", "enterprise")
    pachd = build(inputs)["pachd"]
    assert pachd["serviceAccount"]["additionalAnnotations"] == {"eks.amazonaws.com/role-arn": IRSA}
    assert pachd["worker"]["serviceAccount"]["additionalAnnotations"] == {"eks.amazonaws.com/role-arn": IRSA}


def test_an_external_database_takes_its_password_from_a_secret():
    values = build({"platform": "local", **DATABASE_INPUTS["external"]})
    assert values["postgresql"] == {"enabled": False}
    assert values["global"]["postgresql"]["postgresqlExistingSecretName"] == "pg"
    assert "postgresqlPassword" not in values["global"]["postgresql"]


def test_an_external_database_without_a_host_is_refused():
    with pytest.raises(
        ValueError, match="pachyderm_database_host: '' is empty but pachyderm_database is 'external'"
    ):
        inputs_model.check_inputs(
            {"platform": "local", "database": "external", "database_password_secret": "pg"}
        )


def test_cloud_sql_runs_the_chart_auth_proxy():
    values = build({"platform": "local", **DATABASE_INPUTS["cloudsql"]})
    assert values["cloudsqlAuthProxy"] == {"enabled": True, "connectionName": "project:region:instance"}
    assert values["global"]["postgresql"]["postgresqlHost"].startswith("cloudsql-auth-proxy.")


# --- pinned values --------------------------------------------------------------------------------


def test_pinning_generates_every_value_the_chart_would_randomise_once():
    inputs = {"platform": "local", "enterprise_enabled": True, "enterprise_license_secret": "l"}
    result = pinning.pin(None, pinning.pinned_keys(inputs))
    assert set(result["generated"]) == {
        "cluster-deployment-id",
        "root-token",
        "pachd-oauth-client-secret",
        "OAUTH_CLIENT_SECRET",
        "enterprise-secret",
        "local-host-path",
        "postgresql-password",
        "postgresql-postgres-password",
    }
    assert result["changed"] is True
    assert result["values"]["local-host-path"].endswith("/")


def test_pinned_values_are_reused_and_nothing_changes():
    keys = pinning.pinned_keys({"platform": "local"})
    first = pinning.pin(None, keys)["values"]
    again = pinning.pin(first, keys)
    assert again["values"] == first
    assert again["changed"] is False
    assert again["generated"] == []


def test_only_missing_pinned_values_are_generated():
    keys = pinning.pinned_keys({"platform": "local"})
    first = pinning.pin(None, keys)["values"]
    partial = {k: v for k, v in first.items() if k != "root-token"}
    again = pinning.pin(partial, keys)
    assert again["generated"] == ["root-token"]
    assert {k: v for k, v in again["values"].items() if k != "root-token"} == partial


def test_pinned_values_no_longer_needed_are_kept():
    again = pinning.pin({"enterprise-secret": "kept"}, pinning.pinned_keys({"platform": "local"}))
    assert again["values"]["enterprise-secret"] == "kept"


def test_the_same_pinned_values_give_the_same_chart_values():
    inputs = {"platform": "local"}
    pinned = pinning.pin(None, pinning.pinned_keys(inputs))["values"]
    assert model.build_values(inputs, pinned) == model.build_values(inputs, pinned)


def test_the_root_token_and_oauth_secrets_never_appear_in_the_values():
    inputs = {"platform": "local"}
    pinned = pinning.pin(None, pinning.pinned_keys(inputs))["values"]
    text = json.dumps(model.build_values(inputs, pinned))
    for key in ("root-token", "pachd-oauth-client-secret", "OAUTH_CLIENT_SECRET"):
        assert pinned[key] not in text
    assert pinned["cluster-deployment-id"] in text


def test_redaction_masks_every_credential():
    inputs = {"platform": "metallb", **STORAGE_INPUTS["s3-keys"]}
    public, hidden = model.redact(build(inputs))
    assert public["pachd"]["storage"]["amazon"]["secret"] == model.REDACTED
    assert public["pachd"]["storage"]["amazon"]["id"] == model.REDACTED
    assert hidden["pachd.storage.amazon.secret"] == "secret"
    assert public["global"]["postgresql"]["postgresqlPassword"] == model.REDACTED


# --- the endpoint fact ----------------------------------------------------------------------------


def test_the_endpoint_uses_the_host_and_grpcs_443_with_tls():
    inputs = {"platform": "metallb", "tls": "self_signed", "proxy_host": HOST, "tls_secret_name": "t"}
    endpoint = model.proxy_endpoint(inputs, [{"ip": "10.0.0.5"}])
    assert endpoint["address"] == HOST
    assert endpoint["ip"] == "10.0.0.5"
    assert endpoint["pachd_address"] == f"grpcs://{HOST}:443"
    assert endpoint["console_url"] == f"https://{HOST}/"


def test_without_a_host_the_endpoint_is_the_load_balancer_address_on_port_80():
    endpoint = model.proxy_endpoint({"platform": "metallb"}, [{"ip": "127.0.0.240"}])
    assert endpoint["address"] == "127.0.0.240"
    assert endpoint["pachd_address"] == "grpc://127.0.0.240:80"
    assert endpoint["s3_endpoint"] == "http://127.0.0.240"


def test_an_aws_load_balancer_host_name_is_the_address():
    inputs = combination("aws", "off", "s3-irsa", "bundled", "enterprise")
    endpoint = model.proxy_endpoint(inputs, [{"hostname": "abc.elb.amazonaws.com"}])
    assert endpoint["address"] == "abc.elb.amazonaws.com"


def test_a_node_port_endpoint_uses_the_node_address_and_port():
    endpoint = model.proxy_endpoint({"platform": "kind"}, [], node_address="172.18.0.2")
    assert endpoint["pachd_address"] == "grpc://172.18.0.2:30080"
    assert endpoint["console_url"] == "http://172.18.0.2:30080/"


def test_a_cluster_ip_endpoint_is_the_service_dns_name():
    endpoint = model.proxy_endpoint(
        {"platform": "local", "service_type": "ClusterIP", "namespace": "pach"}, []
    )
    assert endpoint["address"] == "pachyderm-proxy.pach.svc.cluster.local"


def test_a_hand_installed_release_keeps_what_its_chart_generated():
    chart = {
        "pachyderm-auth": {"root-token": "rt", "pachd-oauth-client-secret": "po"},
        "pachyderm-deployment-id-secret": {"CLUSTER_DEPLOYMENT_ID": "id"},
        "pachyderm-console-secret": {"OAUTH_CLIENT_SECRET": "co"},
        "postgres": {"postgresql-password": "pg", "postgresql-postgres-password": "pgroot"},
    }
    adopted = pinning.adopt({}, chart, {"STORAGE_HOST_PATH": "/var/pachyderm-ab12C/pachd"})
    assert adopted["values"] == {
        pinning.PINNED_ROOT_TOKEN: "rt",
        pinning.PINNED_PACHD_OAUTH: "po",
        pinning.PINNED_DEPLOYMENT_ID: "id",
        pinning.PINNED_CONSOLE_OAUTH: "co",
        pinning.PINNED_PG_PASSWORD: "pg",
        pinning.PINNED_PG_ROOT_PASSWORD: "pgroot",
        pinning.PINNED_HOST_PATH: "/var/pachyderm-ab12C/",
    }
    inputs = {"platform": "local"}
    pinned = pinning.pin(adopted["values"], pinning.pinned_keys(inputs))
    assert pinned["generated"] == [] and pinned["values"][pinning.PINNED_DEPLOYMENT_ID] == "id"


def test_the_pinned_secret_wins_over_the_charts_objects():
    adopted = pinning.adopt(
        {pinning.PINNED_ROOT_TOKEN: "pinned"}, {"pachyderm-auth": {"root-token": "chart"}}
    )
    assert adopted == {"values": {pinning.PINNED_ROOT_TOKEN: "pinned"}, "adopted": []}


def test_the_role_reads_exactly_the_charts_generated_secrets():
    role_vars = yaml.safe_load(
        (Path(__file__).resolve().parents[4] / "roles" / "pachyderm" / "vars" / "main.yml").read_text()
    )
    assert tuple(sorted(role_vars["_pachyderm_chart_generated_secrets"])) == pinning.CHART_SECRETS
