/**
 * The wire shapes of the NSX Policy API objects the adapter writes and reads, as TypeBox schemas.
 *
 * Every schema is taken from VMware's published NSX-T Go bindings, module
 * github.com/vmware/vsphere-automation-sdk-go/services/nsxt at `nsxtBindingsVersion`, file
 * `model/ModelPackageTypes.go`: the `<Type>BindingType()` function of the type named in each schema's
 * `nsxType` gives the wire names (its `fields["…"]` keys). Only the fields the adapter uses are listed;
 * every schema allows further properties, as NSX does (its objects carry many more). The binding test
 * (wire.test.ts) checks every property named here, and every key the client sends, against the
 * bindings. The bindings give names and types, not limits: the few limits here (lengths, counts) are
 * the adapter's guards, each noted with where it comes from.
 */
import Type, { type Static, type TSchema } from 'typebox'

/** The version of the bindings module these shapes were read from (and the binding test reads). */
export const nsxtBindingsModule = 'github.com/vmware/vsphere-automation-sdk-go/services/nsxt'
export const nsxtBindingsVersion = 'v0.12.0'

/** The Go binding type a schema was taken from (the test reads this key). */
const from = (nsxType: string) => ({ nsxType })

/** The one field of a wire object that is not in its binding: see ApiError. */
export const fieldsOutsideBindings: Readonly<Record<string, readonly string[]>> = {
  ApiError: ['httpStatus'],
}

// Tag — model/ModelPackageTypes.go, TagBindingType(). The tag's 256 characters are the binding's
// comment on Tag.Tag; the scope's 128 and 30 tags an object are NSX's API guide's (check on a Manager).
export const Tag = Type.Object(
  { scope: Type.String({ maxLength: 128 }), tag: Type.String({ maxLength: 256 }) },
  from('Tag'),
)
export type Tag = Static<typeof Tag>

/** The fields every Policy object has (PolicyConfigResource's, repeated in each binding type). */
const common = {
  // The client's own bound on ids (see nsx-client.ts); display names and descriptions are unbounded here.
  id: Type.Optional(Type.String({ maxLength: 255 })),
  display_name: Type.Optional(Type.String()),
  description: Type.Optional(Type.String()),
  resource_type: Type.Optional(Type.String()),
  path: Type.Optional(Type.String()),
  parent_path: Type.Optional(Type.String()),
  marked_for_delete: Type.Optional(Type.Boolean()),
  _revision: Type.Optional(Type.Integer({ minimum: 0 })),
  tags: Type.Optional(Type.Array(Tag, { maxItems: 30 })),
}

// SegmentSubnet — model/ModelPackageTypes.go, SegmentSubnetBindingType().
export const SegmentSubnet = Type.Object(
  {
    /** The gateway's address with the prefix length, as "10.1.0.1/24". */
    gateway_address: Type.Optional(Type.String()),
    network: Type.Optional(Type.String()),
  },
  from('SegmentSubnet'),
)

// Segment — model/ModelPackageTypes.go, SegmentBindingType().
export const Segment = Type.Object(
  {
    ...common,
    subnets: Type.Optional(Type.Array(SegmentSubnet)),
    connectivity_path: Type.Optional(Type.String()),
    transport_zone_path: Type.Optional(Type.String()),
  },
  from('Segment'),
)
export type Segment = Static<typeof Segment>

// Tier1 — model/ModelPackageTypes.go, Tier1BindingType().
export const Tier1 = Type.Object(
  {
    ...common,
    tier0_path: Type.Optional(Type.String()),
    route_advertisement_types: Type.Optional(Type.Array(Type.String())),
  },
  from('Tier1'),
)
export type Tier1 = Static<typeof Tier1>

// LBService — model/ModelPackageTypes.go, LBServiceBindingType().
export const LBService = Type.Object(
  {
    ...common,
    connectivity_path: Type.Optional(Type.String()),
    size: Type.Optional(Type.String()),
    enabled: Type.Optional(Type.Boolean()),
  },
  from('LBService'),
)
export type LBService = Static<typeof LBService>

// LBPoolMember — model/ModelPackageTypes.go, LBPoolMemberBindingType(). `port` is a string there.
export const LBPoolMember = Type.Object(
  {
    display_name: Type.Optional(Type.String()),
    ip_address: Type.String(),
    port: Type.Optional(Type.String()),
    weight: Type.Optional(Type.Integer()),
    admin_state: Type.Optional(Type.String()),
  },
  from('LBPoolMember'),
)
export type LBPoolMember = Static<typeof LBPoolMember>

// LBPool — model/ModelPackageTypes.go, LBPoolBindingType().
export const LBPool = Type.Object(
  {
    ...common,
    algorithm: Type.Optional(Type.String()),
    members: Type.Optional(Type.Array(LBPoolMember)),
    // The adapter's guard: a pool that is active with no member is no pool.
    min_active_members: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  from('LBPool'),
)
export type LBPool = Static<typeof LBPool>

// LBClientSslProfileBinding — model/ModelPackageTypes.go, LBClientSslProfileBindingBindingType().
export const LBClientSslProfileBinding = Type.Object(
  {
    default_certificate_path: Type.String(),
    ssl_profile_path: Type.Optional(Type.String()),
  },
  from('LBClientSslProfileBinding'),
)

// LBVirtualServer — model/ModelPackageTypes.go, LBVirtualServerBindingType(). `ports` are strings.
export const LBVirtualServer = Type.Object(
  {
    ...common,
    ip_address: Type.Optional(Type.String()),
    ports: Type.Optional(Type.Array(Type.String())),
    pool_path: Type.Optional(Type.String()),
    lb_service_path: Type.Optional(Type.String()),
    application_profile_path: Type.Optional(Type.String()),
    client_ssl_profile_binding: Type.Optional(LBClientSslProfileBinding),
    enabled: Type.Optional(Type.Boolean()),
  },
  from('LBVirtualServer'),
)
export type LBVirtualServer = Static<typeof LBVirtualServer>

// TlsTrustData — model/ModelPackageTypes.go, TlsTrustDataBindingType(): the body that imports a
// certificate (PATCH/PUT /infra/certificates/{id}). private_key and passphrase are secrets.
export const TlsTrustData = Type.Object(
  {
    ...common,
    pem_encoded: Type.String(),
    private_key: Type.Optional(Type.String()),
    passphrase: Type.Optional(Type.String()),
  },
  from('TlsTrustData'),
)
export type TlsTrustData = Static<typeof TlsTrustData>

// TlsCertificate — model/ModelPackageTypes.go, TlsCertificateBindingType(): what GET answers (no key).
export const TlsCertificate = Type.Object(
  {
    ...common,
    pem_encoded: Type.Optional(Type.String()),
    has_private_key: Type.Optional(Type.Boolean()),
  },
  from('TlsCertificate'),
)
export type TlsCertificate = Static<typeof TlsCertificate>

// Condition — model/ModelPackageTypes.go, ConditionBindingType(): one expression of a group.
export const Condition = Type.Object(
  {
    resource_type: Type.Literal('Condition'),
    member_type: Type.String(),
    key: Type.String(),
    operator: Type.String(),
    value: Type.String(),
  },
  from('Condition'),
)

// Group — model/ModelPackageTypes.go, GroupBindingType().
export const Group = Type.Object(
  { ...common, expression: Type.Optional(Type.Array(Condition)) },
  from('Group'),
)
export type Group = Static<typeof Group>

// Rule — model/ModelPackageTypes.go, RuleBindingType().
export const Rule = Type.Object(
  {
    ...common,
    action: Type.Optional(Type.String()),
    source_groups: Type.Optional(Type.Array(Type.String())),
    destination_groups: Type.Optional(Type.Array(Type.String())),
    services: Type.Optional(Type.Array(Type.String())),
    scope: Type.Optional(Type.Array(Type.String())),
    direction: Type.Optional(Type.String()),
    sequence_number: Type.Optional(Type.Integer()),
    logged: Type.Optional(Type.Boolean()),
  },
  from('Rule'),
)
export type Rule = Static<typeof Rule>

// SecurityPolicy — model/ModelPackageTypes.go, SecurityPolicyBindingType().
export const SecurityPolicy = Type.Object(
  {
    ...common,
    category: Type.Optional(Type.String()),
    scope: Type.Optional(Type.Array(Type.String())),
    sequence_number: Type.Optional(Type.Integer()),
    stateful: Type.Optional(Type.Boolean()),
    rules: Type.Optional(Type.Array(Rule)),
  },
  from('SecurityPolicy'),
)
export type SecurityPolicy = Static<typeof SecurityPolicy>

// RelatedApiError — model/ModelPackageTypes.go, RelatedApiErrorBindingType().
export const RelatedApiError = Type.Object(
  {
    error_code: Type.Optional(Type.Integer()),
    error_message: Type.Optional(Type.String()),
    module_name: Type.Optional(Type.String()),
  },
  from('RelatedApiError'),
)

// ApiError — model/ModelPackageTypes.go, ApiErrorBindingType(). NSX Manager also sends `httpStatus`
// (as "BAD_REQUEST"), which the binding does not list: the one field named in fieldsOutsideBindings.
export const ApiError = Type.Object(
  {
    error_code: Type.Optional(Type.Integer()),
    error_message: Type.Optional(Type.String()),
    module_name: Type.Optional(Type.String()),
    httpStatus: Type.Optional(Type.String()),
    related_errors: Type.Optional(Type.Array(RelatedApiError)),
  },
  from('ApiError'),
)
export type ApiError = Static<typeof ApiError>

// SearchResponse — model/ModelPackageTypes.go, SearchResponseBindingType(): the answer of
// GET /policy/api/v1/search/query (services/nsxt search/QueryClient.go).
export const SearchResponse = Type.Object(
  {
    results: Type.Optional(Type.Array(Type.Record(Type.String(), Type.Unknown()))),
    result_count: Type.Optional(Type.Integer()),
    cursor: Type.Optional(Type.String()),
  },
  from('SearchResponse'),
)
export type SearchResponse = Static<typeof SearchResponse>

// ConsolidatedStatus — model/ModelPackageTypes.go, ConsolidatedStatusBindingType(): SUCCESS,
// IN_PROGRESS, ERROR, UNKNOWN, UNINITIALIZED, SANDBOXED_REALIZATION_PENDING (its constants).
export const ConsolidatedStatus = Type.Object(
  { consolidated_status: Type.Optional(Type.String()) },
  from('ConsolidatedStatus'),
)

// ConsolidatedRealizedStatus — model/ModelPackageTypes.go, ConsolidatedRealizedStatusBindingType():
// the answer of GET /policy/api/v1/infra/realized-state/status?intent_path=… (infra/realized_state/
// StatusClient.go). publish_status: REALIZED, UNREALIZED, UNAVAILABLE or ERROR (its constants).
export const ConsolidatedRealizedStatus = Type.Object(
  {
    intent_path: Type.Optional(Type.String()),
    publish_status: Type.Optional(Type.String()),
    consolidated_status: Type.Optional(ConsolidatedStatus),
  },
  from('ConsolidatedRealizedStatus'),
)
export type ConsolidatedRealizedStatus = Static<typeof ConsolidatedRealizedStatus>

/** The kinds of object the adapter manages, with the path under /policy/api/v1 and the schema. */
export const NsxKind = {
  tier1: 'tier1',
  segment: 'segment',
  lbService: 'lb-service',
  lbPool: 'lb-pool',
  lbVirtualServer: 'lb-virtual-server',
  certificate: 'certificate',
  group: 'group',
  securityPolicy: 'security-policy',
} as const
export type NsxKind = (typeof NsxKind)[keyof typeof NsxKind]

export interface KindSpec {
  /** The collection's path under /policy/api/v1, as "/infra/segments". */
  readonly collection: string
  /** The schema of what is written (PATCH/PUT body). */
  readonly body: TSchema
  /** NSX's resource_type of the object, as the search API reports it. */
  readonly resourceType: string
}

export const kinds: Readonly<Record<NsxKind, KindSpec>> = {
  tier1: { collection: '/infra/tier-1s', body: Tier1, resourceType: 'Tier1' },
  segment: { collection: '/infra/segments', body: Segment, resourceType: 'Segment' },
  'lb-service': { collection: '/infra/lb-services', body: LBService, resourceType: 'LBService' },
  'lb-pool': { collection: '/infra/lb-pools', body: LBPool, resourceType: 'LBPool' },
  'lb-virtual-server': {
    collection: '/infra/lb-virtual-servers',
    body: LBVirtualServer,
    resourceType: 'LBVirtualServer',
  },
  certificate: { collection: '/infra/certificates', body: TlsTrustData, resourceType: 'TlsCertificate' },
  group: { collection: '/infra/domains/default/groups', body: Group, resourceType: 'Group' },
  'security-policy': {
    collection: '/infra/domains/default/security-policies',
    body: SecurityPolicy,
    resourceType: 'SecurityPolicy',
  },
}

/** The kind of a resource_type, or undefined for one the adapter does not manage. */
export const kindOfResourceType = (resourceType: string): NsxKind | undefined =>
  (Object.keys(kinds) as NsxKind[]).find((kind) => kinds[kind].resourceType === resourceType)

/**
 * What a PATCH of an existing object does, as the bindings' documentation of each Patch says
 * (infra/*Client.go): segments, Tier-1s and groups are updated with the fields given; LB services,
 * pools, virtual servers and security policies are replaced whole ("This is a full replace"); a
 * certificate is not changed, by PATCH or PUT ("This patch method does not modify an existing
 * certificate").
 */
export const patchSemantics: Readonly<Record<NsxKind, 'merge' | 'replace' | 'keep'>> = {
  tier1: 'merge',
  segment: 'merge',
  group: 'merge',
  'lb-service': 'replace',
  'lb-pool': 'replace',
  'lb-virtual-server': 'replace',
  'security-policy': 'replace',
  certificate: 'keep',
}

/**
 * The order objects are deleted in: what refers to another goes first (a virtual server names its
 * pool, its LB service and its certificate; an LB service and a segment name the Tier-1; a rule names
 * groups).
 */
export const deleteOrder: readonly NsxKind[] = [
  NsxKind.lbVirtualServer,
  NsxKind.lbPool,
  NsxKind.lbService,
  NsxKind.certificate,
  NsxKind.securityPolicy,
  NsxKind.group,
  NsxKind.segment,
  NsxKind.tier1,
]
