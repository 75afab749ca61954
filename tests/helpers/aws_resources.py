"""AWS resources that integration tests make with boto3 before they run a module: a network, a certificate."""

from __future__ import annotations

import datetime


def network(ec2, second_octet: int, zones: str, group_prefix: str, group_description: str, region: str = "us-east-1") -> dict:
    """A VPC 10.<second_octet>.0.0/16 with one /24 subnet in each zone (letters of ``zones``) and two security groups
    named <group_prefix>-0 and -1: {"vpc", "subnets", "groups"}."""
    vpc = ec2.create_vpc(CidrBlock=f"10.{second_octet}.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.{second_octet}.{index}.0/24",
                                 AvailabilityZone=f"{region}{zone}")["Subnet"]["SubnetId"]
               for index, zone in enumerate(zones)]
    groups = [ec2.create_security_group(GroupName=f"{group_prefix}-{index}", Description=group_description,
                                        VpcId=vpc)["GroupId"] for index in range(2)]
    return {"vpc": vpc, "subnets": subnets, "groups": groups}


def self_signed_certificate() -> tuple:
    """(certificate, private key), PEM, for mlflow.example.com, valid for 30 days."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mlflow.example.com")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=30))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName("mlflow.example.com")]), critical=False)
                   .sign(key, hashes.SHA256()))
    return (certificate.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                              serialization.NoEncryption()))


def imported_certificate(acm) -> str:
    """The ARN of a self-signed certificate imported into ACM."""
    certificate, key = self_signed_certificate()
    return acm.import_certificate(Certificate=certificate, PrivateKey=key)["CertificateArn"]
