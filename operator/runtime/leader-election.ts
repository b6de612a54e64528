// Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics: the holder
// renews every retryPeriod; a candidate takes the Lease when renewTime + leaseDuration has
// passed; every write carries the resourceVersion read, so two candidates cannot both win.
// A leader that cannot renew within renewDeadline stops leading (the operator then exits and
// its restart re-joins as a candidate). Leases go through the generic custom-objects client:
// it sends MicroTime strings as given, where the typed client would reformat Dates.
import { ApiException, CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";

export interface LeaderElectionOptions {
  readonly kubeConfig: KubeConfig;
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  readonly leaseDurationSeconds?: number;
  readonly renewDeadlineSeconds?: number;
  readonly retryPeriodSeconds?: number;
  readonly onStartedLeading: () => void;
  readonly onStoppedLeading: () => void;
  readonly onError?: (error: unknown) => void;
}

interface LeaseObject {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

const LEASES = { group: "coordination.k8s.io", version: "v1", plural: "leases" } as const;

/** RFC 3339 with microseconds, the MicroTime wire format. */
export const microTime = (ms: number): string => new Date(ms).toISOString().replace(/Z$/, "000Z");

export class LeaderElector {
  private readonly api: CustomObjectsApi;
  private timer: NodeJS.Timeout | undefined;
  private leading = false;
  private lastRenewAt = 0;
  private stopped = true;

  private readonly options: LeaderElectionOptions;

  constructor(options: LeaderElectionOptions) {
    this.options = options;
    this.api = options.kubeConfig.makeApiClient(CustomObjectsApi);
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    this.stopped = false;
    void this.loop();
  }

  /** Stops; a leader gives the Lease up so a standby takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.leading) {
      this.leading = false;
      await this.release().catch(() => undefined);
      this.options.onStoppedLeading();
    }
  }

  private async loop(): Promise<void> {
    if (this.stopped) return;
    const retryMs = (this.options.retryPeriodSeconds ?? 2) * 1000;
    try {
      const held = await this.tryAcquireOrRenew();
      if (held) this.lastRenewAt = Date.now();
      if (held && !this.leading && !this.stopped) {
        this.leading = true;
        this.options.onStartedLeading();
      } else if (!held && this.leading) {
        this.lose();
      }
    } catch (error) {
      this.options.onError?.(error);
    }
    const deadlineMs = (this.options.renewDeadlineSeconds ?? 10) * 1000;
    if (this.leading && Date.now() - this.lastRenewAt > deadlineMs) this.lose();
    if (!this.stopped) this.timer = setTimeout(() => void this.loop(), retryMs);
  }

  private lose(): void {
    this.leading = false;
    this.options.onStoppedLeading();
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.options;
    const duration = this.options.leaseDurationSeconds ?? 15;
    const now = Date.now();
    let lease: LeaseObject | undefined;
    try {
      lease = (await this.api.getNamespacedCustomObject({ ...LEASES, namespace, name })) as LeaseObject;
    } catch (error) {
      if (!(error instanceof ApiException && error.code === 404)) throw error;
    }
    if (!lease) {
      const body: LeaseObject = {
        metadata: { name, namespace },
        spec: {
          holderIdentity: identity,
          leaseDurationSeconds: duration,
          acquireTime: microTime(now),
          renewTime: microTime(now),
          leaseTransitions: 0,
        },
      };
      return this.write(() =>
        this.api.createNamespacedCustomObject({
          ...LEASES,
          namespace,
          body: { apiVersion: "coordination.k8s.io/v1", kind: "Lease", ...body },
        }),
      );
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? "";
    const renewedAt = spec.renewTime ? Date.parse(spec.renewTime) : 0;
    const expired = now > renewedAt + (spec.leaseDurationSeconds ?? duration) * 1000;
    if (holder !== identity && holder !== "" && !expired) return false;
    const taking = holder !== identity;
    const next: LeaseObject = {
      metadata: { ...lease.metadata },
      spec: {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds: duration,
        renewTime: microTime(now),
        ...(taking
          ? { acquireTime: microTime(now), leaseTransitions: (spec.leaseTransitions ?? 0) + (holder ? 1 : 0) }
          : {}),
      },
    };
    return this.write(() =>
      this.api.replaceNamespacedCustomObject({
        ...LEASES,
        namespace,
        name,
        body: { apiVersion: "coordination.k8s.io/v1", kind: "Lease", ...next },
      }),
    );
  }

  /** A 409 (someone else wrote first) means "not ours this round", not an error. */
  private async write(call: () => Promise<unknown>): Promise<boolean> {
    try {
      await call();
      return true;
    } catch (error) {
      if (error instanceof ApiException && error.code === 409) return false;
      throw error;
    }
  }

  private async release(): Promise<void> {
    const { namespace, name, identity } = this.options;
    const lease = (await this.api.getNamespacedCustomObject({ ...LEASES, namespace, name })) as LeaseObject;
    if (lease.spec?.holderIdentity !== identity) return;
    await this.api.replaceNamespacedCustomObject({
      ...LEASES,
      namespace,
      name,
      body: {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: lease.metadata,
        spec: {
          ...lease.spec,
          holderIdentity: "",
          leaseDurationSeconds: 1,
          renewTime: microTime(Date.now()),
        },
      },
    });
  }
}
