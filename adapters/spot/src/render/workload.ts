import { Annotation, type DeployRequest, portName, type ScaleSpec, secretKeyRef } from '@rxt/platform-sdk'
import type { KubeObject } from './kube-object.ts'
import { appLabels, cpu, memory, serviceNames } from './names.ts'

/**
 * A deploy: the workload (a StatefulSet when stateful), its Service, for a Deployment its volumes'
 * claims, and its autoscaler when the request asks for one. Under an autoscaler (this request's, or
 * one a scale made: `options.autoscaled`) the replica count is the autoscaler's to set.
 */
export function workloadObjects(
  namespace: string,
  request: DeployRequest,
  revision: number,
  digest: string,
  options: { autoscaled: boolean; owner: Readonly<Record<string, string>> },
): KubeObject[] {
  const { app } = request
  // Selectors name the app alone (they cannot change once made); objects and pods also say whose they are.
  const selector = appLabels(app)
  const labels = { ...selector, ...options.owner }
  const meta = (name: string) => ({ name, namespace, labels })
  const check = request.healthCheck
  const probe = check && {
    httpGet: { path: check.path, port: check.port },
    periodSeconds: check.periodSeconds ?? 10,
    ...(check.initialDelaySeconds === undefined ? {} : { initialDelaySeconds: check.initialDelaySeconds }),
    ...(check.timeoutSeconds === undefined ? {} : { timeoutSeconds: check.timeoutSeconds }),
    ...(check.failureThreshold === undefined ? {} : { failureThreshold: check.failureThreshold }),
  }
  const resources = { cpu: cpu(request.resources.cpu), memory: memory(request.resources.memoryMiB) }
  const claims = request.volumes.map((v) => ({
    metadata: { name: v.name, labels: selector },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: `${v.sizeGiB}Gi` } } },
  }))
  const template = {
    metadata: {
      labels,
      annotations: {
        [Annotation.revision]: String(revision),
        [Annotation.request]: JSON.stringify({ ...request, key: undefined }),
      },
    },
    spec: {
      automountServiceAccountToken: false,
      securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: app,
          image: request.image,
          ports: request.ports.map((p) => ({
            name: portName(p.name),
            containerPort: p.port,
            protocol: 'TCP',
          })),
          env: [
            ...Object.entries(request.env).map(([name, value]) => ({ name, value })),
            // Secrets by reference: the value stays in the Secret the secrets service keeps.
            ...request.secrets.map((s) => ({
              name: s.env,
              valueFrom: { secretKeyRef: secretKeyRef(s.ref) },
            })),
          ],
          resources: { requests: resources, limits: resources },
          securityContext: { allowPrivilegeEscalation: false },
          ...(probe
            ? {
                readinessProbe: probe,
                livenessProbe: { ...probe, failureThreshold: 2 * (check?.failureThreshold ?? 3) },
              }
            : {}),
          volumeMounts: request.volumes.map((v) => ({ name: v.name, mountPath: v.mountPath })),
        },
      ],
      ...(request.stateful
        ? {}
        : {
            volumes: request.volumes.map((v) => ({
              name: v.name,
              persistentVolumeClaim: { claimName: `${app}-${v.name}` },
            })),
          }),
    },
  }
  const annotations = {
    [Annotation.revision]: String(revision),
    [Annotation.requestDigest]: digest,
    [Annotation.image]: request.image,
  }
  const asked = request.autoscaling ?? null
  const replicas = options.autoscaled || asked !== null ? {} : { replicas: request.replicas }
  const workload: KubeObject = request.stateful
    ? {
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        metadata: { ...meta(app), annotations },
        spec: {
          ...replicas,
          serviceName: serviceNames(app).service,
          selector: { matchLabels: selector },
          template,
          volumeClaimTemplates: claims,
          revisionHistoryLimit: 10,
        },
      }
    : {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { ...meta(app), annotations },
        spec: {
          ...replicas,
          selector: { matchLabels: selector },
          template,
          revisionHistoryLimit: 10,
          progressDeadlineSeconds: 600,
          strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: '25%' } },
        },
      }
  const service: KubeObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(serviceNames(app).service),
    spec: {
      type: 'ClusterIP',
      selector,
      // A StatefulSet's pods are named through a headless Service.
      ...(request.stateful ? { clusterIP: 'None' } : {}),
      ports: request.ports.map((p) => ({
        name: portName(p.name),
        port: p.port,
        targetPort: p.port,
        protocol: 'TCP',
        ...(p.protocol === 'grpc' ? { appProtocol: 'grpc' } : {}),
      })),
    },
  }
  const volumeClaims: KubeObject[] = request.stateful
    ? []
    : claims.map((c) => ({
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: { ...c.metadata, name: `${app}-${c.metadata.name}`, namespace },
        spec: c.spec,
      }))
  const autoscaler =
    asked === null ? [] : [autoscalerObject(namespace, { kind: workload.kind, name: app }, asked)]
  return [...volumeClaims, workload, ...(request.ports.length > 0 ? [service] : []), ...autoscaler]
}

/** The replica count of a scale, and its autoscaler (autoscaling/v2) when it has one. */
export function scaleObjects(
  namespace: string,
  workload: { kind: string; name: string },
  spec: ScaleSpec,
  owner: Readonly<Record<string, string>> = {},
): { replicas: KubeObject; autoscaler: KubeObject | undefined } {
  const replicas: KubeObject = {
    apiVersion: 'apps/v1',
    kind: workload.kind,
    metadata: { name: workload.name, namespace },
    spec: { replicas: spec.replicas },
  }
  const autoscaler =
    spec.autoscaling === null ? undefined : autoscalerObject(namespace, workload, spec.autoscaling, owner)
  return { replicas, autoscaler }
}

/** The autoscaler (autoscaling/v2, on CPU) of a workload. */
export function autoscalerObject(
  namespace: string,
  workload: { kind: string; name: string },
  autoscaling: NonNullable<ScaleSpec['autoscaling']>,
  owner: Readonly<Record<string, string>> = {},
): KubeObject {
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name: workload.name, namespace, labels: { ...appLabels(workload.name), ...owner } },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: workload.kind, name: workload.name },
      minReplicas: autoscaling.minReplicas,
      maxReplicas: autoscaling.maxReplicas,
      metrics: [
        {
          type: 'Resource',
          resource: {
            name: 'cpu',
            target: { type: 'Utilization', averageUtilization: autoscaling.targetCpuPercent },
          },
        },
      ],
    },
  }
}
