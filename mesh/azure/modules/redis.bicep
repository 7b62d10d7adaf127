// Short-term memory and cache. Azure Managed Redis (`managed`, the successor product; TLS port
// 10000) by default; Azure Cache for Redis (`cache`, TLS port 6380) only where the subscription
// may still create one (its retirement is announced). Access keys are off: Entra ID only.
param name string
param location string
@allowed(['managed', 'cache'])
param flavor string
param managedSku string
param cacheSku object
param zones array
param appsPrincipalId string
param tags object

resource managed 'Microsoft.Cache/redisEnterprise@2025-04-01' = if (flavor == 'managed') {
  name: name
  location: location
  tags: tags
  sku: { name: managedSku }
  properties: {
    minimumTlsVersion: '1.2'
    highAvailability: 'Enabled'
  }
}

resource managedDb 'Microsoft.Cache/redisEnterprise/databases@2025-04-01' = if (flavor == 'managed') {
  parent: managed
  name: 'default'
  properties: {
    clientProtocol: 'Encrypted'
    port: 10000
    clusteringPolicy: 'EnterpriseCluster'
    evictionPolicy: 'VolatileLRU'
    accessKeysAuthentication: 'Disabled'
  }
}

resource managedAccess 'Microsoft.Cache/redisEnterprise/databases/accessPolicyAssignments@2025-04-01' = if (flavor == 'managed') {
  parent: managedDb
  name: 'omegaapps'
  properties: {
    accessPolicyName: 'default'
    user: { objectId: appsPrincipalId }
  }
}

resource cache 'Microsoft.Cache/redis@2024-03-01' = if (flavor == 'cache') {
  name: name
  location: location
  tags: tags
  zones: cacheSku.name == 'Premium' && !empty(zones) ? zones : null
  properties: {
    sku: cacheSku
    enableNonSslPort: false
    minimumTlsVersion: '1.2'
    disableAccessKeyAuthentication: true
    redisConfiguration: {
      'aad-enabled': 'true'
      'maxmemory-policy': 'volatile-lru'
    }
  }
}

resource cacheAccess 'Microsoft.Cache/redis/accessPolicyAssignments@2024-03-01' = if (flavor == 'cache') {
  parent: cache
  name: 'omegaapps'
  properties: {
    accessPolicyName: 'Data Contributor'
    objectId: appsPrincipalId
    objectIdAlias: 'omega-apps'
  }
}

output hostName string = flavor == 'managed' ? managed.properties.hostName : cache.properties.hostName
output port int = flavor == 'managed' ? 10000 : 6380
