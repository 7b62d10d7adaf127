// OMEGA's Azure resources for one environment (dev or prod), deployed into one resource group:
//   az deployment group create -g <rg> -f mesh/azure/main.bicep -p mesh/azure/main.<env>.bicepparam
// Every data service is reached with Entra ID (workload identity); local keys are disabled.
// The `azureEnv` output is the overlay's azure.env (see docs/deploy.md).
targetScope = 'resourceGroup'

@description('Environment name: selects sizes and redundancy.')
@allowed(['dev', 'prod'])
param environmentName string

@description('Azure region of every resource.')
param location string = resourceGroup().location

@description('Public host name of the ingress (webhooks, /mcp, /dashboard).')
param publicHost string

@description('Object ids of the Entra groups that administer the AKS cluster.')
param aksAdminGroupObjectIds array = []

@description('Kubernetes minor version (pick one from `az aks get-versions -l <region>`).')
param kubernetesVersion string = '1.34'

@description('Istio add-on revision (from `az aks mesh get-revisions -l <region>`).')
param istioRevision string = 'asm-1-26'

@description('System node pool: VM size and node count.')
param systemNodeVmSize string = 'Standard_D2ds_v5'
param systemNodeCount int = 1

@description('Application node pool: VM size and cluster-autoscaler bounds.')
param appNodeVmSize string = 'Standard_D4ds_v5'
param appNodeMinCount int = 1
param appNodeMaxCount int = 3

@description('Availability zones for the node pools and zone-redundant services ([] for none).')
param zones array = []

@description('Service Bus Premium messaging units (1, 2, 4, 8 or 16).')
param serviceBusMessagingUnits int = 1

@description('Cosmos DB: serverless (dev) or provisioned autoscale throughput (prod).')
param cosmosServerless bool = true
param cosmosAutoscaleMaxThroughput int = 4000

@description('Redis: Azure Managed Redis (`managed`, the successor) or Azure Cache for Redis (`cache`).')
@allowed(['managed', 'cache'])
param redisFlavor string = 'managed'
@description('Azure Managed Redis SKU (e.g. Balanced_B0, Balanced_B1, Balanced_B3).')
param managedRedisSku string = 'Balanced_B0'
@description('Azure Cache for Redis SKU (name, family, capacity), used when redisFlavor is cache.')
param cacheRedisSku object = { name: 'Standard', family: 'C', capacity: 1 }

@description('AI Search SKU and replica count (2+ replicas for the read SLA).')
param searchSku string = 'basic'
param searchReplicaCount int = 1

@description('Storage redundancy (Standard_LRS, Standard_ZRS, ...).')
param storageSku string = 'Standard_LRS'

@description('Days every audit-log blob stays immutable (time-based retention).')
param auditRetentionDays int = 365

@description('Container registry SKU.')
param acrSku string = 'Basic'

@description('Log Analytics retention in days.')
param logRetentionDays int = 30

@description('Namespace and service accounts of the OMEGA workloads (federated credentials).')
param appNamespace string = 'omega'
param serviceAccounts array = [
  'federation-core'
  'agent-registry'
  'mcp-registry'
  'context-server'
  'orchestrator'
  'capacity-manager'
  'ingest'
  'gateway'
  'triage'
  'shadow'
  'analytics'
]

@description('Tags on every resource.')
param tags object = {}

var suffix = take(uniqueString(subscription().id, resourceGroup().id), 6)
var base = 'omega-${environmentName}'
var allTags = union(tags, { application: 'omega', environment: environmentName })

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    name: 'log-${base}'
    location: location
    retentionDays: logRetentionDays
    tags: allTags
  }
}

module identities 'modules/identities.bicep' = {
  name: 'identities'
  params: {
    baseName: base
    location: location
    tags: allTags
  }
}

module acr 'modules/acr.bicep' = {
  name: 'acr'
  params: {
    name: 'acr${replace(base, '-', '')}${suffix}'
    location: location
    sku: acrSku
    tags: allTags
  }
}

module aks 'modules/aks.bicep' = {
  name: 'aks'
  params: {
    name: 'aks-${base}'
    location: location
    tier: environmentName == 'prod' ? 'Standard' : 'Free'
    kubernetesVersion: kubernetesVersion
    istioRevision: istioRevision
    systemNodeVmSize: systemNodeVmSize
    systemNodeCount: systemNodeCount
    appNodeVmSize: appNodeVmSize
    appNodeMinCount: appNodeMinCount
    appNodeMaxCount: appNodeMaxCount
    zones: zones
    adminGroupObjectIds: aksAdminGroupObjectIds
    logAnalyticsWorkspaceId: monitoring.outputs.workspaceId
    acrName: acr.outputs.name
    tags: allTags
  }
}

module federation 'modules/federation.bicep' = {
  name: 'federation'
  params: {
    appsIdentityName: identities.outputs.appsName
    kedaIdentityName: identities.outputs.kedaName
    oidcIssuerUrl: aks.outputs.oidcIssuerUrl
    appNamespace: appNamespace
    serviceAccounts: serviceAccounts
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  params: {
    name: 'sb-${base}-${suffix}'
    location: location
    messagingUnits: serviceBusMessagingUnits
    zoneRedundant: !empty(zones)
    appsPrincipalId: identities.outputs.appsPrincipalId
    kedaPrincipalId: identities.outputs.kedaPrincipalId
    tags: allTags
  }
}

module cosmos 'modules/cosmos.bicep' = {
  name: 'cosmos'
  params: {
    name: 'cosmos-${base}-${suffix}'
    location: location
    serverless: cosmosServerless
    autoscaleMaxThroughput: cosmosAutoscaleMaxThroughput
    zoneRedundant: !empty(zones)
    appsPrincipalId: identities.outputs.appsPrincipalId
    tags: allTags
  }
}

module redis 'modules/redis.bicep' = {
  name: 'redis'
  params: {
    name: 'redis-${base}-${suffix}'
    location: location
    flavor: redisFlavor
    managedSku: managedRedisSku
    cacheSku: cacheRedisSku
    zones: zones
    appsPrincipalId: identities.outputs.appsPrincipalId
    tags: allTags
  }
}

module search 'modules/search.bicep' = {
  name: 'search'
  params: {
    name: 'srch-${base}-${suffix}'
    location: location
    sku: searchSku
    replicaCount: searchReplicaCount
    appsPrincipalId: identities.outputs.appsPrincipalId
    tags: allTags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: 'st${replace(base, '-', '')}${suffix}'
    location: location
    sku: storageSku
    auditRetentionDays: auditRetentionDays
    appsPrincipalId: identities.outputs.appsPrincipalId
    tags: allTags
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    name: 'kv-${base}-${suffix}'
    location: location
    appsPrincipalId: identities.outputs.appsPrincipalId
    logAnalyticsWorkspaceId: monitoring.outputs.workspaceId
    tags: allTags
  }
}

output aksName string = aks.outputs.name
output acrName string = acr.outputs.name
output acrLoginServer string = acr.outputs.loginServer
output keyVaultName string = keyVault.outputs.name
output storageAccountName string = storage.outputs.name

@description('The overlay\'s azure.env: one KEY=value per entry.')
output azureEnv object = {
  OMEGA_AZURE_CLIENT_ID: identities.outputs.appsClientId
  OMEGA_AZURE_TENANT_ID: tenant().tenantId
  OMEGA_KEDA_CLIENT_ID: identities.outputs.kedaClientId
  OMEGA_KEY_VAULT_NAME: keyVault.outputs.name
  OMEGA_SERVICEBUS_NAMESPACE: serviceBus.outputs.name
  OMEGA_SERVICEBUS_FQDN: serviceBus.outputs.fqdn
  OMEGA_COSMOS_ENDPOINT: cosmos.outputs.endpoint
  OMEGA_COSMOS_DATABASE: cosmos.outputs.databaseName
  OMEGA_REDIS_HOST: redis.outputs.hostName
  OMEGA_REDIS_PORT: string(redis.outputs.port)
  OMEGA_BLOB_ACCOUNT_URL: storage.outputs.blobEndpoint
  OMEGA_SEARCH_ENDPOINT: search.outputs.endpoint
  OMEGA_PUBLIC_HOST: publicHost
}
