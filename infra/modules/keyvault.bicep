// Key Vault (Azure RBAC, no access policies) holding the secrets the app reads through Key Vault
// references. The values arrive as @secure() parameters (azd environment, see docs/deploy.md) and are
// never outputs: only the secret URIs leave this module.
param name string
param location string
param tags object

@description('Principal id of the app\'s managed identity (gets Key Vault Secrets User).')
param appPrincipalId string

@description('Irreversible once on: a deleted vault cannot be purged before its retention ends.')
param enablePurgeProtection bool = false

@secure()
param microsoftClientSecret string

@secure()
param tokenEncryptionKeys string

@secure()
param linkSigningKey string

@secure()
@description('SMTP relay password; stored only when storeSmtpPassword.')
param smtpPassword string = ''

@description('true when an SMTP relay with a password is used (not ACS).')
param storeSmtpPassword bool = false

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    // null, not false: the service refuses false once it was true.
    enablePurgeProtection: enablePurgeProtection ? true : null
    publicNetworkAccess: 'Enabled'
  }
}

resource microsoftClientSecretSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'microsoft-client-secret'
  properties: {
    value: microsoftClientSecret
    contentType: 'Entra app client secret'
  }
}

resource tokenEncryptionKeysSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'token-encryption-keys'
  properties: {
    value: tokenEncryptionKeys
    contentType: 'comma-separated Fernet keys, newest first'
  }
}

resource linkSigningKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'link-signing-key'
  properties: {
    value: linkSigningKey
    contentType: 'HMAC key of manage tokens and one-time links'
  }
}

resource smtpPasswordSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (storeSmtpPassword) {
  parent: vault
  name: 'smtp-password'
  properties: {
    value: smtpPassword
    contentType: 'SMTP relay password'
  }
}

// Key Vault Secrets User: read secret values (what Key Vault references need), nothing else.
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'

resource appSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, appPrincipalId, keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output name string = vault.name
// Versioned URIs: a new value (rotation through `azd provision`) changes the app setting, so the app
// restarts and reads it at once instead of within the 24-hour reference cache.
output microsoftClientSecretUri string = microsoftClientSecretSecret.properties.secretUriWithVersion
output tokenEncryptionKeysUri string = tokenEncryptionKeysSecret.properties.secretUriWithVersion
output linkSigningKeyUri string = linkSigningKeySecret.properties.secretUriWithVersion
output smtpPasswordSecretUri string = storeSmtpPassword ? smtpPasswordSecret.properties.secretUriWithVersion : ''
