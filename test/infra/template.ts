import { CfnElement, type Stack } from 'aws-cdk-lib';

/** Reading a synthesized template the way IAM and CloudFormation would, for the infra tests. */

export type Json = Record<string, unknown>;
export interface CfnResource {
  Type: string;
  Properties?: Json;
  Metadata?: Json;
}
export interface CfnTemplate {
  Resources: Record<string, CfnResource>;
  Outputs?: Record<string, { Value: unknown }>;
}

export interface Statement {
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource: unknown;
  Condition?: Json;
}

/** The logical id of the resource a construct path names, e.g. `InvoiceIngest/Queues/export-poll/Resource`. */
export function logicalIdAt(stack: Stack, path: string): string {
  const found = stack.node.findAll().find((c) => c.node.path === path);
  if (!found || !CfnElement.isCfnElement(found)) throw new Error(`no CloudFormation resource at ${path}`);
  return stack.getLogicalId(found);
}

export function resourcesOfType(template: CfnTemplate, type: string): Array<[string, CfnResource]> {
  return Object.entries(template.Resources).filter(([, r]) => r.Type === type);
}

/** Flattens intrinsics the way cdk-nag prints them: `<Bucket.Arn>/raw/*`, `<Queue>`. */
export function flatten(node: unknown): string {
  if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/\}/g, '>');
  if (node && typeof node === 'object') {
    const obj = node as Json;
    if (obj['Fn::Join']) {
      const [delimiter, items] = obj['Fn::Join'] as [string, unknown[]];
      return items.map(flatten).join(delimiter);
    }
    if (obj['Fn::Sub']) return flatten(obj['Fn::Sub']);
    if (obj['Fn::GetAtt']) {
      const [id, attr] = obj['Fn::GetAtt'] as [string, string];
      return `<${id}.${attr}>`;
    }
    if (obj.Ref) return `<${String(obj.Ref)}>`;
  }
  return JSON.stringify(node);
}

const asArray = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);

/** Every statement that applies to a role: its inline policies and each AWS::IAM::Policy attached to it. */
export function statementsOfRole(template: CfnTemplate, roleId: string): Statement[] {
  const role = template.Resources[roleId];
  if (role?.Type !== 'AWS::IAM::Role') throw new Error(`${roleId} is not a role`);
  const docs: Array<{ Statement: Statement[] }> = [];
  for (const p of (role.Properties?.Policies as Array<{ PolicyDocument: { Statement: Statement[] } }>) ??
    []) {
    docs.push(p.PolicyDocument);
  }
  for (const [, policy] of resourcesOfType(template, 'AWS::IAM::Policy')) {
    const roles = (policy.Properties?.Roles as Array<{ Ref?: string }>) ?? [];
    if (roles.some((r) => r.Ref === roleId))
      docs.push(policy.Properties?.PolicyDocument as { Statement: Statement[] });
  }
  return docs.flatMap((d) => d.Statement);
}

function globToRegExp(glob: string): RegExp {
  const escaped = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`);
}

/**
 * Whether any Allow statement grants the action on the resource (both as flattened strings, with IAM's `*`
 * and `?` wildcards). Conditions are ignored, so this over-approximates: a `false` is a real denial.
 */
export function allows(statements: readonly Statement[], action: string, resource: string): boolean {
  return statements.some(
    (s) =>
      s.Effect === 'Allow' &&
      asArray(s.Action).some((a) => globToRegExp(a).test(action)) &&
      asArray(s.Resource)
        .map(flatten)
        .some((r) => globToRegExp(r).test(resource)),
  );
}

/**
 * A string property as CloudFormation assembles it (Fn::Join, Fn::Sub), with each reference left as
 * `<Logical.Attr>` and the literal text untouched, so a JSON document (a dashboard body, a policy) parses.
 */
export function joinedText(node: unknown): string {
  if (typeof node === 'string') return node;
  if (node && typeof node === 'object') {
    const obj = node as Json;
    if (obj['Fn::Join']) {
      const [delimiter, items] = obj['Fn::Join'] as [string, unknown[]];
      return items.map(joinedText).join(delimiter);
    }
    if (obj['Fn::GetAtt']) {
      const [id, attr] = obj['Fn::GetAtt'] as [string, string];
      return `<${id}.${attr}>`;
    }
    if (obj.Ref) return `<${String(obj.Ref)}>`;
  }
  return JSON.stringify(node);
}

/** A metric an alarm or a dashboard reads: where, and the identity CloudWatch matches data points on. */
export interface ReadMetric {
  where: string;
  namespace: string;
  name: string;
  dimensions: Record<string, string>;
}

/** Every metric the template's alarms (plain and metric math) and dashboards read. */
export function metricsRead(template: CfnTemplate): ReadMetric[] {
  const out: ReadMetric[] = [];
  const dims = (list: unknown) =>
    Object.fromEntries(
      ((list as Array<{ Name: string; Value: unknown }> | undefined) ?? []).map((d) => [
        d.Name,
        joinedText(d.Value),
      ]),
    );
  for (const [id, alarm] of resourcesOfType(template, 'AWS::CloudWatch::Alarm')) {
    const p = alarm.Properties ?? {};
    if (p.MetricName) {
      out.push({
        where: `alarm ${id}`,
        namespace: String(p.Namespace),
        name: String(p.MetricName),
        dimensions: dims(p.Dimensions),
      });
    }
    for (const m of (p.Metrics as Array<{ MetricStat?: { Metric: Json } }> | undefined) ?? []) {
      if (!m.MetricStat) continue;
      const metric = m.MetricStat.Metric;
      out.push({
        where: `alarm ${id}`,
        namespace: String(metric.Namespace),
        name: String(metric.MetricName),
        dimensions: dims(metric.Dimensions),
      });
    }
  }
  for (const [id, dashboard] of resourcesOfType(template, 'AWS::CloudWatch::Dashboard')) {
    const body = JSON.parse(joinedText(dashboard.Properties?.DashboardBody)) as {
      widgets: Array<{ properties?: { title?: string; metrics?: unknown[][] } }>;
    };
    for (const widget of body.widgets) {
      for (const row of widget.properties?.metrics ?? []) {
        // [namespace, name, dim1, value1, ..., {options}]; a math expression row is one object.
        const parts = row.filter((x): x is string => typeof x === 'string');
        if (parts.length < 2) continue;
        const [namespace, name, ...pairs] = parts;
        const dimensions: Record<string, string> = {};
        for (let i = 0; i + 1 < pairs.length; i += 2) dimensions[pairs[i]!] = pairs[i + 1]!;
        out.push({
          where: `dashboard ${id} "${widget.properties?.title ?? ''}"`,
          namespace: namespace!,
          name: name!,
          dimensions,
        });
      }
    }
  }
  return out;
}
