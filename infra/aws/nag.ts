import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * cdk-nag 3 reads acknowledgements from CDK's own Validations metadata (the v2 NagSuppressions API is gone).
 * A wildcard rule reports one finding per wildcard, `AwsSolutions-IAM5[Resource::<Bucket.Arn>/raw/*]`, and each
 * must be acknowledged on its own: pass the findings and each gets the reason.
 */
export function acknowledge(
  scope: IConstruct,
  rule: string,
  reason: string,
  findings: readonly string[] = [],
): void {
  const id = `AwsSolutions-${rule}`;
  if (findings.length === 0) {
    Validations.of(scope).acknowledge({ id, reason });
    return;
  }
  for (const finding of findings) Validations.of(scope).acknowledge({ id: `${id}[${finding}]`, reason });
}

/** The finding cdk-nag reports for a wildcard resource ARN, e.g. `Resource::<StorageInvoiceBucket1A2B.Arn>/raw/*`. */
export function wildcardResourceFinding(scope: IConstruct, arn: string): string {
  return `Resource::${flattenReference(Stack.of(scope).resolve(arn))}`;
}

// Mirrors cdk-nag's flattenCfnReference (not exported by the package), so the finding ids match byte for byte.
function flattenReference(node: unknown): string {
  if (node === undefined) return '';
  if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/\}/g, '>');
  if (node && typeof node === 'object') {
    const obj = node as Record<string, unknown>;
    if (obj['Fn::Join']) {
      const [delimiter, items] = obj['Fn::Join'] as [string, unknown[]];
      return items.map(flattenReference).join(delimiter);
    }
    if (obj['Fn::Sub']) return flattenReference(obj['Fn::Sub']);
    if (obj['Fn::GetAtt']) {
      const [resource, attribute] = obj['Fn::GetAtt'] as [unknown, unknown];
      return `<${flattenReference(resource)}.${flattenReference(attribute)}>`;
    }
    if (obj['Fn::ImportValue']) return flattenReference(obj['Fn::ImportValue']);
    if (obj.Ref) return `<${flattenReference(obj.Ref)}>`;
  }
  return JSON.stringify(node);
}
