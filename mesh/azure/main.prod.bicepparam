// Production: three zones, Standard AKS tier, autoscale Cosmos DB, 2 AI Search replicas (read
// SLA), zone-redundant storage, and 7-year immutability for the audit log.
using 'main.bicep'

param environmentName = 'prod'
param publicHost = 'omega.example.com'
param aksAdminGroupObjectIds = []
param systemNodeVmSize = 'Standard_D4ds_v5'
param systemNodeCount = 3
param appNodeVmSize = 'Standard_D8ds_v5'
param appNodeMinCount = 3
param appNodeMaxCount = 10
param zones = ['1', '2', '3']
param serviceBusMessagingUnits = 1
param cosmosServerless = false
param cosmosAutoscaleMaxThroughput = 4000
param redisFlavor = 'managed'
param managedRedisSku = 'Balanced_B3'
param searchSku = 'standard'
param searchReplicaCount = 2
param storageSku = 'Standard_ZRS'
param auditRetentionDays = 2555
param acrSku = 'Standard'
param logRetentionDays = 90
